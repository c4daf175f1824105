"""Issue 13 finding 7: the notification shapes as the real counterparts send them.

VNPAY: vectors computed by an independent implementation (the npm package `vnpay`, see vectors/), with
values holding `*`, `~`, reserved characters, UTF-8 and empty values. SePay: one authentication method per
webhook, exactly as configured (https://developer.sepay.vn/en/sepay-webhooks/xac-thuc), nothing more,
nothing less, no default secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from parking.payments import notifications
from parking.payments.notifications import NotificationError
from parking.payments.settings import PaymentSettings

VECTORS = json.loads((Path(__file__).parent / "vectors" / "vnpay_vectors.json").read_text())
SECRET = "sepay-interop-secret"
BODY = json.dumps({"id": 92704, "transferAmount": 85000, "content": "PK7F3K9Q2M", "referenceCode": "FT1"}).encode()
NOW = 1_764_561_600.0  # 2025-12-01T04:00:00Z, any fixed instant


@pytest.mark.parametrize("case", VECTORS["cases"], ids=[c["name"] for c in VECTORS["cases"]])
def test_vnpay_signing_matches_an_independent_implementation(case: dict[str, Any]) -> None:
    params: dict[str, str] = case["params"]
    assert notifications.vnpay_sign_data(params) == case["sign_data"]
    assert notifications.vnpay_secure_hash(VECTORS["secret"], params) == case["secure_hash"]
    signed = {**params, "vnp_SecureHashType": "HmacSHA512", "vnp_SecureHash": case["secure_hash"]}
    notifications.verify_vnpay(signed, secret=VECTORS["secret"])
    notifications.verify_vnpay({**signed, "vnp_SecureHash": case["secure_hash"].upper()}, secret=VECTORS["secret"])


def test_vnpay_tampered_vector_is_refused() -> None:
    case = next(c for c in VECTORS["cases"] if c["name"] == "star_and_tilde")
    forged = {**case["params"], "vnp_Amount": "85000000", "vnp_SecureHash": case["secure_hash"]}
    with pytest.raises(NotificationError):
        notifications.verify_vnpay(forged, secret=VECTORS["secret"])


_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x1EFF, exclude_categories=("Cs",)))


@given(params=st.dictionaries(st.from_regex(r"vnp_[A-Za-z]{1,12}", fullmatch=True), _values, max_size=8))
def test_vnpay_empty_values_do_not_count(params: dict[str, str]) -> None:
    """VNPAY leaves empty parameters out of the signed data: adding or dropping one changes nothing."""
    without = {k: v for k, v in params.items() if v != ""}
    assert notifications.vnpay_sign_data(params) == notifications.vnpay_sign_data(without)
    assert notifications.vnpay_sign_data({**params, "vnp_Zzz": ""}) == notifications.vnpay_sign_data(without)


def _hmac_headers(secret: str, body: bytes, ts: int) -> dict[str, str]:
    sig = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return {"X-SePay-Timestamp": str(ts), "X-SePay-Signature": f"sha256={sig}"}


def _verify(headers: dict[str, str], settings: PaymentSettings, body: bytes = BODY, now: float = NOW) -> None:
    notifications.verify_sepay(
        headers,
        body,
        mode=settings.sepay_auth,
        api_key=settings.sepay_api_key,
        hmac_secret=settings.sepay_hmac_secret,
        max_skew_s=settings.sepay_max_skew_s,
        now=now,
    )


def test_sepay_api_key_mode_accepts_exactly_the_documented_header() -> None:
    s = PaymentSettings(sepay_auth="apikey", sepay_api_key=SECRET)
    _verify({"Authorization": f"Apikey {SECRET}", "Content-Type": "application/json"}, s)  # nothing more needed
    for bad in ({"Authorization": "Apikey guessed"}, {"Authorization": f"Bearer {SECRET}"}, {}):
        with pytest.raises(NotificationError) as e:
            _verify(bad, s)
        assert e.value.code == "bad_signature"
    # A valid HMAC is not the configured method: nothing less than the API key is accepted.
    with pytest.raises(NotificationError):
        _verify(_hmac_headers(SECRET, BODY, int(NOW)), s)


def test_sepay_hmac_mode_accepts_exactly_a_fresh_signature_of_timestamp_and_body() -> None:
    s = PaymentSettings(sepay_auth="hmac", sepay_hmac_secret=SECRET)
    _verify(_hmac_headers(SECRET, BODY, int(NOW) - 30), s)
    with pytest.raises(NotificationError):
        _verify(_hmac_headers(SECRET, BODY, int(NOW)), s, body=BODY.replace(b"85000", b"95000"))  # tampered
    with pytest.raises(NotificationError):
        _verify(_hmac_headers("another-secret", BODY, int(NOW)), s)
    with pytest.raises(NotificationError) as stale:
        _verify(_hmac_headers(SECRET, BODY, int(NOW) - 3600), s)  # a replay of an old request
    assert stale.value.code == "bad_signature"
    with pytest.raises(NotificationError):
        _verify({"Authorization": f"Apikey {SECRET}"}, s)  # the API key is not the configured method
    with pytest.raises(NotificationError):
        _verify({"X-SePay-Signature": _hmac_headers(SECRET, BODY, int(NOW))["X-SePay-Signature"]}, s)


def test_sepay_without_configuration_refuses_everything_and_has_no_default_secret() -> None:
    s = PaymentSettings(_env_file=None)  # type: ignore[call-arg]
    assert s.sepay_auth is None and s.sepay_api_key is None and s.sepay_hmac_secret is None
    assert s.vnpay_hash_secret is None
    for headers in ({"Authorization": "Apikey dev-provider-secret"}, _hmac_headers("dev-provider-secret", BODY, 0)):
        with pytest.raises(NotificationError) as e:
            _verify(headers, s)
        assert e.value.code == "not_configured"
    with pytest.raises(NotificationError) as e:  # a mode without its secret is not a configuration
        _verify({"Authorization": "Apikey "}, PaymentSettings(sepay_auth="apikey", sepay_api_key=""))
    assert e.value.code == "not_configured"


@pytest.fixture
def apikey_webhook(payment_sim_url: str) -> Iterator[PaymentSettings]:
    """The API switched to a webhook configured with SePay's API-key method (and back afterwards)."""
    from parking.payments.settings import get_payment_settings, use_payment_settings

    before = get_payment_settings()
    s = before.model_copy(update={"sepay_auth": "apikey", "sepay_api_key": SECRET, "sepay_hmac_secret": None})
    use_payment_settings(s)
    yield s
    use_payment_settings(before)


async def test_a_webhook_sent_exactly_as_sepay_documents_it_is_accepted(
    client: httpx.AsyncClient, apikey_webhook: PaymentSettings
) -> None:
    body = json.dumps(
        {
            "id": int(uuid.uuid4().int % 10**9),
            "gateway": "Vietcombank",
            "transactionDate": "2026-12-01 10:00:00",
            "accountNumber": "0011001234567",
            "code": None,
            "content": "CHUYEN TIEN KHONG MA",
            "transferType": "in",
            "transferAmount": 12_000,
            "accumulated": 12_000,
            "subAccount": None,
            "referenceCode": f"FT{uuid.uuid4().int % 10**12:012d}",
            "description": "",
        }
    ).encode()
    documented = {"Authorization": f"Apikey {SECRET}", "Content-Type": "application/json"}
    r = await client.post("/v1/payments/notify/sepay", content=body, headers=documented)
    assert r.status_code == 200 and r.json()["success"] is True
    # The HMAC headers alone are not this webhook's method: refused.
    ts = str(int(time.time()))
    signed = {"X-SePay-Timestamp": ts, "X-SePay-Signature": notifications.sepay_hmac_signature(SECRET, ts, body)}
    refused = await client.post("/v1/payments/notify/sepay", content=body, headers=signed)
    assert refused.status_code == 401 and refused.json()["success"] is False
