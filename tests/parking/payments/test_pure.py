"""Pure parsing/verification of bank notifications and ledger posting rules."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parking.ledger import rules as ledger
from parking.payments import notifications
from parking.payments.notifications import NotificationError

SECRET = "s3cret"


def sepay_body(**over: object) -> bytes:
    data = {
        "id": 92704,
        "gateway": "Vietcombank",
        "transactionDate": "2026-11-22 14:02:37",
        "accountNumber": "0011001234567",
        "code": None,
        "content": "MBVCB.4525077405.9P0019.PK7F3K9Q2M CT tu 0351000646393 NGUYEN VAN A",
        "transferType": "in",
        "transferAmount": 25000,
        "accumulated": 19077000,
        "subAccount": None,
        "referenceCode": "MBVCB.3278907687",
        "description": "",
    }
    data.update(over)
    return json.dumps(data).encode()


def test_sepay_parse_and_verify() -> None:
    body = sepay_body()
    headers = {"Authorization": f"Apikey {SECRET}"}  # SePay's API-key method, exactly as documented
    notifications.verify_sepay(headers, body, mode="apikey", api_key=SECRET, hmac_secret=None, now=time.time())
    credit = notifications.parse_sepay(body)
    assert credit.provider_txn_id == "92704" and credit.amount_vnd == 25000 and credit.success
    assert credit.candidates == ["PK7F3K9Q2M"]
    assert credit.occurred_at == datetime(2026, 11, 22, 7, 2, 37, tzinfo=UTC)


def test_sepay_bad_key_and_bad_hmac() -> None:
    body = sepay_body()
    with pytest.raises(NotificationError) as e:
        notifications.verify_sepay(
            {"Authorization": "Apikey nope"}, body, mode="apikey", api_key=SECRET, hmac_secret=None, now=time.time()
        )
    assert e.value.code == "bad_signature"
    tampered = sepay_body(transferAmount=2500000)
    ts = str(int(time.time()))
    sig = notifications.sepay_hmac_signature(SECRET, ts, body)
    with pytest.raises(NotificationError):
        notifications.verify_sepay(
            {"X-SePay-Signature": sig, "X-SePay-Timestamp": ts},
            tampered,
            mode="hmac",
            api_key=None,
            hmac_secret=SECRET,
            now=time.time(),
        )


def test_sepay_malformed() -> None:
    for bad in (b"not json", sepay_body(transferAmount="25000"), sepay_body(transferAmount=1.5)):
        with pytest.raises(NotificationError):
            notifications.parse_sepay(bad)


def vnp_params(amount_vnd: int = 25000, ref: str = "PK7F3K9Q2M") -> dict[str, str]:
    p = {
        "vnp_TmnCode": "PARKHN01",
        "vnp_Amount": str(amount_vnd * 100),
        "vnp_BankCode": "NCB",
        "vnp_OrderInfo": "Thanh toan gui xe " + ref,
        "vnp_PayDate": "20261122140237",
        "vnp_ResponseCode": "00",
        "vnp_TransactionStatus": "00",
        "vnp_TransactionNo": "14226112",
        "vnp_TxnRef": ref,
    }
    p["vnp_SecureHash"] = notifications.vnpay_secure_hash(SECRET, p)
    return p


def test_vnpay_verify_and_parse() -> None:
    p = vnp_params()
    notifications.verify_vnpay(p, secret=SECRET)
    credit = notifications.parse_vnpay(p)
    assert credit.amount_vnd == 25000 and credit.provider_txn_id == "14226112"
    assert credit.candidates[0] == "PK7F3K9Q2M" and credit.success


@given(
    amount=st.integers(min_value=1, max_value=10**9),
    field=st.sampled_from(["vnp_Amount", "vnp_TxnRef", "vnp_ResponseCode", "vnp_OrderInfo"]),
)
def test_vnpay_any_tamper_breaks_signature(amount: int, field: str) -> None:
    p = vnp_params(amount)
    p[field] = p[field] + "0"
    with pytest.raises(NotificationError):
        notifications.verify_vnpay(p, secret=SECRET)


def test_vnpay_amount_not_times_100() -> None:
    p = vnp_params()
    p["vnp_Amount"] = "2500050"
    with pytest.raises(NotificationError):
        notifications.parse_vnpay(p)


def test_ledger_entries_balance() -> None:
    sid, pid = uuid.uuid4(), uuid.uuid4()
    fee = ledger.fee_recognised(session_id=sid, lot_id="lot1", fee_vnd=25000)
    pay = ledger.payment_received(payment_id=pid, session_id=sid, provider="sim", amount_vnd=30000, applied_vnd=25000)
    ref = ledger.refund_issued(refund_id=uuid.uuid4(), payment_id=pid, session_id=sid, provider="sim", amount_vnd=5000)
    rev = ledger.reversal(fee.idempotency_key, fee.postings, reason="test")
    balances: dict[str, int] = {}
    for e in (fee, pay, ref, rev):
        assert sum(p.amount_vnd for p in e.postings) == 0
        for p in e.postings:
            balances[p.account] = balances.get(p.account, 0) + p.amount_vnd
    assert balances["driver_receivable"] == -25000  # fee reversed, payment still applied
    assert balances["unallocated"] == -5000


@given(amounts=st.lists(st.integers(min_value=-(10**9), max_value=10**9).filter(bool), min_size=1, max_size=6))
def test_ledger_refuses_unbalanced(amounts: list[int]) -> None:
    postings = tuple(ledger.Posting(f"a{i}", a) for i, a in enumerate(amounts))
    if len(amounts) >= 2 and sum(amounts) == 0:
        ledger.validate(postings)
    else:
        with pytest.raises(ledger.LedgerError):
            ledger.validate(postings)
