"""An exit whose VietQR was not paid within the lot's wait: the lane let the car out, the fee becomes a debt.

No stop means no lane held for minutes: after ``lots.qr_lane_wait_s`` the lane opens (the lot's
``unpaid_qr_policy`` is 'debt') and reports it here; the session's open QR is expired and what it still owes
becomes a debt of the plate (and of its driver), payable later — the same path as a QR that expires. Never
commits; idempotent (a second report finds nothing left to do).
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parking.kit.errors import AppError
from parking.lanes.auth import LaneInfo
from parking.models import Debt, Lot, ParkingSession, PaymentIntent, SessionStatus
from parking.payments import service as payments


async def left_unpaid(db: AsyncSession, lane: LaneInfo, session_id: uuid.UUID) -> Debt | None:
    if lane.direction != "exit":
        raise AppError("wrong_direction", "Only an exit lane lets a car out unpaid.", 403)
    sess = (
        await db.execute(select(ParkingSession).where(ParkingSession.id == session_id).with_for_update())
    ).scalar_one_or_none()
    if sess is None or sess.lot_id != lane.lot_id:
        raise AppError("session_not_found", f"No session {session_id} in lot {lane.lot_code}.", 404)
    policy = (await db.execute(select(Lot.unpaid_qr_policy).where(Lot.id == lane.lot_id))).scalar_one()
    if policy != "debt":
        raise AppError("policy_attendant", "This lot's policy is to call the attendant, not to let the car out.", 409)
    if sess.status != SessionStatus.CLOSED:
        raise AppError("session_open", "The session has no exit yet.", 409)
    if sess.payment_status in ("paid", "free", "charging", "deferred", "debt"):
        return (await db.execute(select(Debt).where(Debt.session_id == session_id))).scalar_one_or_none()
    for intent in (
        await db.execute(
            select(PaymentIntent)
            .where(PaymentIntent.session_id == session_id, PaymentIntent.status == "open")
            .with_for_update()
        )
    ).scalars():
        intent.status = "expired"
    return await payments.record_debt(db, session_id=session_id, reason="left_unpaid_qr")
