"""Parse and verify the two confirmation shapes banks send us. Pure: no I/O, no clock.

1. Bank-transfer webhook, SePay-style (JSON body; see sepayvn/laravel-sepay SePayWebhookData).
   SePay authenticates a webhook with ONE method, chosen when the webhook is created
   (developer.sepay.vn/en/sepay-webhooks/xac-thuc); we accept exactly the configured one:
   `apikey`: `Authorization: Apikey <key>`;
   `hmac`: `X-SePay-Signature: sha256=<hex HMAC-SHA256 of "{X-SePay-Timestamp}.{raw body}">` with a
   timestamp (Unix seconds) no more than `max_skew_s` from now (replay protection, as SePay advises).
   Nothing is accepted without a configured method and its secret: there is no default.
2. Gateway IPN, VNPAY-style: query parameters `vnp_*`; `vnp_SecureHash` = HMAC-SHA512 (hex) over the
   non-empty parameters sorted by name, each value form-url-encoded (space as `+`; letters, digits and
   `*-._` kept; everything else %XX of its UTF-8 bytes, `~` included) and joined with `&`, excluding
   `vnp_SecureHash`/`vnp_SecureHashType`. That is what VNPAY's Java sample (URLEncoder) and the npm
   `vnpay` library (URLSearchParams) produce; Python's plain quote_plus differs on `*` and `~` and
   keeps empty values, which made valid IPNs fail. `vnp_Amount` is VND ×100.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from parking.payments.vietqr import find_references
from parking.vocabulary import VN_TZ


class NotificationError(ValueError):
    """A notification we must refuse (bad signature, malformed). `code` is machine-readable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class BankCredit:
    """A confirmed (or refused) incoming payment, normalised from either shape."""

    provider: str  # "sepay" | "vnpay"
    provider_txn_id: str
    amount_vnd: int
    success: bool
    occurred_at: datetime  # tz-aware UTC
    candidates: list[str] = field(default_factory=list)  # our references, best first
    content: str = ""
    raw: dict[str, Any] = field(default_factory=dict)
    # The bank's own reference of the transfer, the same whichever notifier reports it (SePay
    # `referenceCode`, VNPAY `vnp_BankTranNo`); None when the notifier gives none.
    bank_ref: str | None = None


def bank_reference(value: object) -> str | None:
    """Normalise a bank reference (banks and notifiers differ in case and padding); empty means none."""
    ref = str(value or "").strip().upper()
    return ref or None


# ---------------------------------------------------------------- SePay-style bank transfer


SEPAY_AUTH_MODES = ("apikey", "hmac")


def sepay_hmac_signature(secret: str, timestamp: str, body: bytes) -> str:
    """SePay's HMAC-SHA256 over ``{timestamp}.{raw body}``, as sent in ``X-SePay-Signature``."""
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_sepay(
    headers: Mapping[str, str],
    body: bytes,
    *,
    mode: str | None,
    api_key: str | None,
    hmac_secret: str | None,
    now: float,
    max_skew_s: int = 300,
) -> None:
    """Raise NotificationError unless the request carries the configured method's credential (constant-time).

    Only the configured method counts: the other method's headers are neither needed nor enough.
    """
    secret = {"apikey": api_key, "hmac": hmac_secret}.get(mode or "")
    if not secret:
        raise NotificationError("not_configured", "no SePay authentication method and secret configured")
    lower = {k.lower(): v for k, v in headers.items()}
    if mode == "apikey":
        given = lower.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Apikey {secret}".encode()):
            raise NotificationError("bad_signature", "Authorization header does not match the API key")
        return
    timestamp = lower.get("x-sepay-timestamp", "")
    given = lower.get("x-sepay-signature", "")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > max_skew_s:
        raise NotificationError("bad_signature", "X-SePay-Timestamp missing or too far from now (replay?)")
    if not hmac.compare_digest(given.encode(), sepay_hmac_signature(secret, timestamp, body).encode()):
        raise NotificationError("bad_signature", "X-SePay-Signature does not match the body")


def parse_sepay(body: bytes) -> BankCredit:
    try:
        data = json.loads(body)
        txn_id = str(data["id"])
        amount = data["transferAmount"]
        content = str(data.get("content") or "")
        when = datetime.strptime(str(data["transactionDate"]), "%Y-%m-%d %H:%M:%S")
    except (ValueError, KeyError, TypeError) as exc:
        raise NotificationError("malformed", f"bad SePay payload: {exc}") from exc
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise NotificationError("malformed", "transferAmount must be a non-negative integer VND")
    # SePay's `code` is the payment code it extracted itself; ours is searched in the content too.
    candidates = find_references(str(data.get("code") or "")) + find_references(content)
    candidates += find_references(str(data.get("description") or ""))
    unique = list(dict.fromkeys(candidates))
    return BankCredit(
        provider="sepay",
        provider_txn_id=txn_id,
        amount_vnd=amount,
        success=data.get("transferType", "in") == "in",
        occurred_at=when.replace(tzinfo=VN_TZ).astimezone(UTC),  # bank time is Hanoi local time
        candidates=unique,
        content=content,
        raw=data,
        bank_ref=bank_reference(data.get("referenceCode")),
    )


# ---------------------------------------------------------------- VNPAY-style IPN

_VNP_HASH_FIELDS = ("vnp_SecureHash", "vnp_SecureHashType")


def _form_encode(value: str) -> str:
    # application/x-www-form-urlencoded as VNPAY's signer does it; quote_plus keeps `~` and encodes `*`.
    return urllib.parse.quote_plus(value, safe="*").replace("~", "%7E")


def vnpay_sign_data(params: Mapping[str, str]) -> str:
    items = sorted(
        (k, str(v))
        for k, v in params.items()
        if k.startswith("vnp_") and k not in _VNP_HASH_FIELDS and v is not None and str(v) != ""
    )
    return "&".join(f"{k}={_form_encode(v)}" for k, v in items)


def vnpay_secure_hash(secret: str, params: Mapping[str, str]) -> str:
    return hmac.new(secret.encode(), vnpay_sign_data(params).encode(), hashlib.sha512).hexdigest()


def verify_vnpay(params: Mapping[str, str], *, secret: str) -> None:
    given = params.get("vnp_SecureHash", "").lower()
    if not given or not hmac.compare_digest(given.encode(), vnpay_secure_hash(secret, params).encode()):
        raise NotificationError("bad_signature", "vnp_SecureHash does not match")


def parse_vnpay(params: Mapping[str, str]) -> BankCredit:
    try:
        raw_amount = int(params["vnp_Amount"])
        txn_no = params["vnp_TransactionNo"]
        ref = params["vnp_TxnRef"]
        when = datetime.strptime(params["vnp_PayDate"], "%Y%m%d%H%M%S")
    except (KeyError, ValueError) as exc:
        raise NotificationError("malformed", f"bad VNPAY IPN: {exc}") from exc
    if raw_amount < 0 or raw_amount % 100:
        # VND has no minor unit; a non-multiple of 100 is a corrupt or foreign amount.
        raise NotificationError("malformed", "vnp_Amount must be VND x 100")
    success = params.get("vnp_ResponseCode") == "00" and params.get("vnp_TransactionStatus", "00") == "00"
    return BankCredit(
        provider="vnpay",
        provider_txn_id=txn_no,
        amount_vnd=raw_amount // 100,
        success=success,
        occurred_at=when.replace(tzinfo=VN_TZ).astimezone(UTC),
        candidates=list(dict.fromkeys([*find_references(ref), ref.upper()])),
        content=params.get("vnp_OrderInfo", ""),
        raw=dict(params),
        bank_ref=bank_reference(params.get("vnp_BankTranNo")),
    )


# VNPAY answers the merchant expects (RspCode is what stops their retries).
VNPAY_OK = {"RspCode": "00", "Message": "Confirm Success"}
VNPAY_NOT_FOUND = {"RspCode": "01", "Message": "Order not found"}
VNPAY_ALREADY = {"RspCode": "02", "Message": "Order already confirmed"}
VNPAY_BAD_AMOUNT = {"RspCode": "04", "Message": "invalid amount"}
VNPAY_BAD_SIGNATURE = {"RspCode": "97", "Message": "Invalid signature"}
VNPAY_ERROR = {"RspCode": "99", "Message": "Unknown error"}
