"""VietQR payment requests: create (unique reference), show at the lane, expire into a debt."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from parking.kit.errors import AppError
from parking.models import IntentStatus, Lane, ParkingSession, PaymentIntent
from parking.payments import repository as repo
from parking.payments import vietqr
from parking.payments.service.common import PAY, ExitAnswer
from parking.payments.service.debts import record_debt
from parking.payments.settings import PaymentSettings, get_payment_settings


async def create_intent(
    db: AsyncSession,
    *,
    amount_vnd: int,
    purpose: str,
    session_id: uuid.UUID | None,
    lane_id: uuid.UUID | None,
    debt_id: uuid.UUID | None = None,
    settings: PaymentSettings | None = None,
    now: datetime | None = None,
) -> PaymentIntent:
    s = settings or get_payment_settings()
    now = now or datetime.now(UTC)
    for _ in range(5):  # 40 random bits: a collision is rare, the unique index makes it harmless
        ref = vietqr.new_reference()
        payload = vietqr.encode(
            vietqr.VietQR(bank_bin=s.qr_bank_bin, account=s.qr_account, amount_vnd=amount_vnd, reference=ref)
        )
        try:
            async with db.begin_nested():
                intent = PaymentIntent(
                    id=uuid.uuid4(),
                    session_id=session_id,
                    debt_id=debt_id,
                    purpose=purpose,
                    reference=ref,
                    amount_vnd=amount_vnd,
                    lane_id=lane_id,
                    qr_payload=payload,
                    status=IntentStatus.OPEN,
                    expires_at=now + timedelta(seconds=s.qr_ttl_s),
                )
                db.add(intent)
                await db.flush()
            return intent
        except IntegrityError:
            if purpose == "session" and session_id is not None:
                existing = await repo.open_session_intent(db, session_id)
                if existing is not None:  # a concurrent exit made it first: show the same QR
                    return existing
            continue
    raise AppError("reference_exhausted", "Could not allocate a unique payment reference.", 503)


def intent_view(intent: PaymentIntent) -> dict[str, Any]:
    return {
        "qr_payload": intent.qr_payload,
        "reference": intent.reference,
        "amount_vnd": intent.amount_vnd,
        "expires_at": intent.expires_at.isoformat(),
    }


async def qr_answer(
    db: AsyncSession, s: PaymentSettings, *, session_id: uuid.UUID, lane_id: uuid.UUID, fee_vnd: int
) -> ExitAnswer:
    intent = await repo.open_session_intent(db, session_id)
    if intent is None:
        intent = await create_intent(
            db, amount_vnd=fee_vnd, purpose="session", session_id=session_id, lane_id=lane_id, settings=s
        )
    return ExitAnswer(
        "pay",
        PAY,
        ["Quét mã VietQR / Scan the VietQR", intent.reference],
        "awaiting_qr",
        payment=intent_view(intent),
    )


async def expire_intents(
    db: AsyncSession, *, now: datetime | None = None, lot_ids: Collection[uuid.UUID] | None = None
) -> int:
    """QRs not paid in time: the exit became an unpaid exit, so the session owes a debt.

    `lot_ids` limits it to the QRs shown at those lots' lanes or for their sessions (a staff member's lots).
    """
    now = now or datetime.now(UTC)
    q = select(PaymentIntent).where(PaymentIntent.status == IntentStatus.OPEN, PaymentIntent.expires_at < now)
    if lot_ids is not None:
        lanes = select(Lane.id).where(Lane.lot_id.in_(list(lot_ids)))
        sessions = select(ParkingSession.id).where(ParkingSession.lot_id.in_(list(lot_ids)))
        q = q.where(PaymentIntent.lane_id.in_(lanes) | PaymentIntent.session_id.in_(sessions))
    rows = list((await db.execute(q.with_for_update(skip_locked=True))).scalars())
    for intent in rows:
        intent.status = IntentStatus.EXPIRED
        if intent.purpose == "session" and intent.session_id:
            await record_debt(db, session_id=intent.session_id, reason="qr_unpaid")
    return len(rows)
