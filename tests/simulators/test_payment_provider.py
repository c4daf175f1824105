"""The simulator on its own, over HTTP: idempotent charges, faults, signed notifications."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from parking.payments import notifications, vietqr
from tests.factories.payment_simulator import run_simulator

SECRET = "sim-test-secret"
AUTH = {"Authorization": f"Bearer {SECRET}"}


@pytest.fixture(scope="module")
def sim() -> Iterator[str]:
    with run_simulator(SECRET, timeout_hang_s=3.0) as base:
        yield base


@pytest.fixture
def http(sim: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim, timeout=10) as c:
        c.post("/_reset")
        yield c


def test_charge_is_idempotent(http: httpx.Client) -> None:
    tok = http.post("/accounts", json={"owner": "a", "balance_vnd": 100_000}).json()["token"]
    body = {"token": tok, "amount_vnd": 25_000}
    r1 = http.post("/charges", json=body, headers=AUTH | {"Idempotency-Key": "k1"})
    r2 = http.post("/charges", json=body, headers=AUTH | {"Idempotency-Key": "k1"})
    assert r1.status_code == r2.status_code == 201 and r1.json() == r2.json()
    assert (
        http.post("/charges", json=body | {"amount_vnd": 1}, headers=AUTH | {"Idempotency-Key": "k1"}).status_code
        == 409
    )
    led = http.get("/_ledger").json()
    assert led["totals"] == {"charged_vnd": 25_000, "charge_count": 1, "qr_paid_vnd": 0, "refunded_vnd": 0}
    assert led["accounts"][tok]["balance_vnd"] == 75_000
    assert http.post("/charges", json=body, headers={"Idempotency-Key": "k2"}).status_code == 401


def test_declined_and_500(http: httpx.Client) -> None:
    tok = http.post("/accounts", json={"owner": "a", "balance_vnd": 1_000}).json()["token"]
    r = http.post("/charges", json={"token": tok, "amount_vnd": 5_000}, headers=AUTH | {"Idempotency-Key": "d"})
    assert r.status_code == 402 and r.json()["decline_code"] == "insufficient_funds"
    http.post("/_faults", json={"mode": "http_500", "count": 1})
    body = {"token": tok, "amount_vnd": 500}
    assert http.post("/charges", json=body, headers=AUTH | {"Idempotency-Key": "e"}).status_code == 500
    assert http.post("/charges", json=body, headers=AUTH | {"Idempotency-Key": "e"}).status_code == 201
    assert http.get("/_ledger").json()["totals"]["charged_vnd"] == 500


def test_timeout_after_charge_then_retry_finds_the_charge(http: httpx.Client) -> None:
    tok = http.post("/accounts", json={"owner": "a"}).json()["token"]
    http.post("/_faults", json={"mode": "timeout_after_charge", "count": 1})
    body = {"token": tok, "amount_vnd": 30_000}
    with pytest.raises(httpx.TimeoutException):
        http.post("/charges", json=body, headers=AUTH | {"Idempotency-Key": "t"}, timeout=0.3)
    # The money moved although we never heard back; the retry with the same key must not charge again.
    r = http.post("/charges", json=body, headers=AUTH | {"Idempotency-Key": "t"})
    assert r.status_code == 201
    assert http.get("/_ledger").json()["totals"] == {
        "charged_vnd": 30_000,
        "charge_count": 1,
        "qr_paid_vnd": 0,
        "refunded_vnd": 0,
    }


def qr(amount: int = 25_000) -> tuple[str, str]:
    ref = vietqr.new_reference()
    return vietqr.encode(vietqr.VietQR("970436", "0011001234567", amount_vnd=amount, reference=ref)), ref


def test_qr_payment_notifications_verify_with_our_parsers(http: httpx.Client) -> None:
    payload, ref = qr()
    r = http.post("/vietqr/pay", json={"qr_payload": payload, "channel": "both", "deliver": False})
    assert r.status_code == 201
    sepay, vnp = r.json()["notifications"]
    body = sepay["body"].encode()
    notifications.verify_sepay(sepay["headers"], body, mode="hmac", api_key=None, hmac_secret=SECRET, now=time.time())
    credit = notifications.parse_sepay(body)
    assert credit.amount_vnd == 25_000 and ref in credit.candidates
    assert json.loads(body)["content"] != ref  # the bank mangled it
    notifications.verify_vnpay(vnp["query"], secret=SECRET)
    assert notifications.parse_vnpay(vnp["query"]).candidates[0] == ref


def test_qr_faults_duplicate_and_out_of_order(http: httpx.Client) -> None:
    http.post("/_faults", json={"mode": "duplicate_notification", "count": 1})
    p1, _ = qr()
    dup = http.post("/vietqr/pay", json={"qr_payload": p1, "deliver": False}).json()["notifications"]
    assert len(dup) == 2 and dup[0] == dup[1]
    http.post("/_faults", json={"mode": "out_of_order", "count": 1})
    p2, r2 = qr(10_000)
    assert http.post("/vietqr/pay", json={"qr_payload": p2, "deliver": False}).json()["notifications"] == []
    p3, r3 = qr(20_000)
    batch = http.post("/vietqr/pay", json={"qr_payload": p3, "deliver": False}).json()["notifications"]
    refs = [notifications.parse_sepay(n["body"].encode()).candidates[0] for n in batch]
    assert refs == [r3, r2]  # the older payment is reported after the newer one


def test_qr_rejects_bad_crc_and_foreign_account(http: httpx.Client) -> None:
    payload, _ = qr()
    broken = payload[:-1] + ("1" if payload[-1] == "0" else "0")
    r = http.post("/vietqr/pay", json={"qr_payload": broken})
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_qr"
    other = vietqr.encode(vietqr.VietQR("970415", "123456", amount_vnd=5000, reference="PKAAAAAAAA"))
    assert http.post("/vietqr/pay", json={"qr_payload": other}).json()["error"]["code"] == "unknown_beneficiary"


def test_transaction_ids_are_never_reused_across_simulator_restarts() -> None:
    from simulators.payment_provider.app import World

    a, b = World(), World()
    assert a.epoch != b.epoch  # each start draws its own id prefix (40 random bits)
    a.seq = b.seq = 1
    assert a.epoch * 100_000 + a.seq != b.epoch * 100_000 + b.seq
