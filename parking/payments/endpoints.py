"""Payments over HTTP: bank/gateway notifications (webhooks); refunds, debts, ledger checks for operators."""

from __future__ import annotations

import json
import time
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from parking.audit import service as audit
from parking.kit.deps import DB
from parking.kit.errors import AppError
from parking.ledger import service as ledger_service
from parking.payments import handlers as _handlers  # noqa: F401  (registers the outbox handlers)
from parking.payments import notifications as notif
from parking.payments import repository, service
from parking.payments.schemas import IntentOut, RefundIn, RefundOut, UnpaidExitIn
from parking.payments.settings import get_payment_settings
from parking.staff.deps import staff_dependency
from parking.staff.service import Staff, lot_of

router = APIRouter(prefix="/v1/payments", tags=["payments"])


# Operator actions need a staff member (console session or API token) of the lot's operator.
Refunder = Annotated[Staff, Depends(staff_dependency("finance", "supervisor"))]
Attendant = Annotated[Staff, Depends(staff_dependency("supervisor", "operator"))]
Auditor = Annotated[Staff, Depends(staff_dependency("finance", "auditor"))]


async def _session_lot(db: DB, session_id: uuid.UUID | None) -> uuid.UUID | None:
    return await repository.session_lot(db, session_id)


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
    row = await repository.intent_by_reference(db, reference)
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
async def create_refund(payment_id: uuid.UUID, body: RefundIn, db: DB, staff: Refunder) -> RefundOut:
    session_id = await repository.payment_session(db, payment_id)
    lot_of(staff, await _session_lot(db, session_id), "payment")
    # The actor is who is logged in; a free-text actor in the body is kept as a note, never trusted.
    actor = staff.actor + (f" ({body.actor})" if body.actor else "")
    r = await service.refund(db, payment_id=payment_id, amount_vnd=body.amount_vnd, reason=body.reason, actor=actor)
    return RefundOut(id=r.id, payment_id=r.payment_id, amount_vnd=r.amount_vnd, reason=r.reason, status=r.status)


@router.post("/sessions/{session_id}/unpaid-exit", summary="The car left unpaid (attendant override): record a debt")
async def unpaid_exit(session_id: uuid.UUID, body: UnpaidExitIn, db: DB, staff: Attendant) -> dict[str, Any]:
    lot_of(staff, await _session_lot(db, session_id), "session")
    debt = await service.record_debt(db, session_id=session_id, reason=body.reason)
    await audit.record(
        db, actor=staff.actor, action="session.unpaid_exit", entity="session", entity_id=str(session_id),
        data={"reason": body.reason, "debt_vnd": debt.amount_vnd if debt else 0},
    )  # fmt: skip
    return {"debt_id": str(debt.id) if debt else None, "amount_vnd": debt.amount_vnd if debt else 0}


@router.post("/intents/expire", summary="Expire the unpaid QRs of my lots now; their sessions become debts")
async def expire(db: DB, staff: Attendant) -> dict[str, int]:
    n = await service.expire_intents(db, lot_ids=staff.lot_ids)
    return {"expired": n}


@router.get("/ledger/check", summary="Double-entry invariant of the whole ledger")
async def ledger_check(db: DB, staff: Auditor) -> dict[str, Any]:
    # The ledger's accounts are the platform's, shared by every operator: a staff member learns whether the
    # books balance, not the balances (other operators' money).
    out = await ledger_service.ledger_check(db)
    return {"balanced": out["balanced"], "unbalanced_entries": len(out["unbalanced_entries"])}
