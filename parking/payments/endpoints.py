"""Payments over HTTP: bank/gateway notifications (webhooks); refunds, debts, ledger checks for operators."""

from __future__ import annotations

import hmac
import json
import time
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from parking.kit.deps import DB
from parking.kit.errors import AppError
from parking.ledger import service as ledger_service
from parking.models import PaymentIntent
from parking.payments import handlers as _handlers  # noqa: F401  (registers the outbox handlers)
from parking.payments import notifications as notif
from parking.payments import service
from parking.payments.schemas import IntentOut, RefundIn, RefundOut, UnpaidExitIn
from parking.payments.settings import get_payment_settings

router = APIRouter(prefix="/v1/payments", tags=["payments"])


def _operator(key: str | None) -> str:
    """Operator endpoints are guarded by a shared key until operator accounts exist."""
    expected = get_payment_settings().operator_api_key
    if not key or not hmac.compare_digest(key.encode(), expected.encode()):
        raise AppError("unauthorized", "An operator key (X-Operator-Key) is required.", 401)
    return "operator"


OperatorKey = Annotated[str | None, Header(alias="X-Operator-Key")]


@router.post("/notify/sepay", summary="Bank-transfer notification (SePay-style webhook)")
async def notify_sepay(request: Request, db: DB) -> JSONResponse:
    s = get_payment_settings()
    body = await request.body()
    try:
        notif.verify_sepay(
            dict(request.headers),
            body,
            mode=s.sepay_auth,
            api_key=s.sepay_api_key,
            hmac_secret=s.sepay_hmac_secret,
            max_skew_s=s.sepay_max_skew_s,
            now=time.time(),
        )
        credit = notif.parse_sepay(body)
    except notif.NotificationError as exc:
        try:
            payload: dict[str, Any] = json.loads(body) if body else {}
        except ValueError:
            payload = {"raw": body[:2000].decode(errors="replace")}
        await service.log_rejected(db, "sepay", exc.code, payload if isinstance(payload, dict) else {"raw": payload})
        status = 401 if exc.code == "bad_signature" else 400
        return JSONResponse(
            {"success": False, "error": {"code": exc.code, "message": str(exc), "details": {}}},
            status_code=status,
        )
    result = await service.handle_credit(db, credit)
    # SePay retries until it sees success: a duplicate or an orphan is still "received".
    return JSONResponse(
        {
            "success": True,
            "outcome": result.outcome,
            "payment_id": str(result.payment_id) if result.payment_id else None,
        }
    )


@router.get("/notify/vnpay", summary="Gateway IPN (VNPAY-style, query string)", operation_id="notify_vnpay_get")
@router.post("/notify/vnpay", summary="Gateway IPN (VNPAY-style, form or query)", operation_id="notify_vnpay_post")
async def notify_vnpay(request: Request, db: DB) -> JSONResponse:
    s = get_payment_settings()
    params = dict(request.query_params)
    if request.method == "POST" and not params:
        params = {k: str(v) for k, v in (await request.form()).items()}
    if not s.vnpay_hash_secret:
        return JSONResponse(notif.VNPAY_ERROR)
    try:
        notif.verify_vnpay(params, secret=s.vnpay_hash_secret)
        credit = notif.parse_vnpay(params)
    except notif.NotificationError as exc:
        await service.log_rejected(db, "vnpay", exc.code, params)
        return JSONResponse(notif.VNPAY_BAD_SIGNATURE if exc.code == "bad_signature" else notif.VNPAY_ERROR)
    result = await service.handle_credit(db, credit, strict_amount=True)
    answer = {
        "confirmed": notif.VNPAY_OK,
        "underpaid": notif.VNPAY_OK,
        "not_success": notif.VNPAY_OK,
        "duplicate": notif.VNPAY_ALREADY,
        "unknown_reference": notif.VNPAY_NOT_FOUND,  # nothing was booked
        "amount_mismatch": notif.VNPAY_BAD_AMOUNT,  # nothing was booked
    }.get(result.outcome, notif.VNPAY_ERROR)
    return JSONResponse(answer)


@router.get("/intents/{reference}", response_model=IntentOut, summary="Status of a VietQR payment request")
async def intent_status(reference: str, db: DB) -> IntentOut:
    row = (await db.execute(select(PaymentIntent).where(PaymentIntent.reference == reference.upper()))).scalar()
    if row is None:
        raise AppError("intent_not_found", f"No payment request with reference {reference}.", 404)
    return IntentOut(
        reference=row.reference,
        status=row.status,
        amount_vnd=row.amount_vnd,
        session_id=row.session_id,
        qr_payload=row.qr_payload,
        expires_at=row.expires_at,
    )


@router.post("/{payment_id}/refunds", response_model=RefundOut, status_code=201, summary="Refund, full or partial")
async def create_refund(payment_id: uuid.UUID, body: RefundIn, db: DB, x_operator_key: OperatorKey = None) -> RefundOut:
    actor = _operator(x_operator_key)
    r = await service.refund(
        db, payment_id=payment_id, amount_vnd=body.amount_vnd, reason=body.reason, actor=body.actor or actor
    )
    return RefundOut(id=r.id, payment_id=r.payment_id, amount_vnd=r.amount_vnd, reason=r.reason, status=r.status)


@router.post("/sessions/{session_id}/unpaid-exit", summary="The car left unpaid (attendant override): record a debt")
async def unpaid_exit(
    session_id: uuid.UUID, body: UnpaidExitIn, db: DB, x_operator_key: OperatorKey = None
) -> dict[str, Any]:
    _operator(x_operator_key)
    debt = await service.record_debt(db, session_id=session_id, reason=body.reason)
    return {"debt_id": str(debt.id) if debt else None, "amount_vnd": debt.amount_vnd if debt else 0}


@router.post("/intents/expire", summary="Expire unpaid QRs; their sessions become debts")
async def expire(db: DB, x_operator_key: OperatorKey = None) -> dict[str, int]:
    _operator(x_operator_key)
    n = await service.expire_intents(db)
    return {"expired": n}


@router.get("/ledger/check", summary="Double-entry invariant and account balances")
async def ledger_check(db: DB, x_operator_key: OperatorKey = None) -> dict[str, Any]:
    _operator(x_operator_key)
    return await ledger_service.ledger_check(db)
