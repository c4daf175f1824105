"""Debts: the car left unpaid, so what the session still owes becomes a debt of its plate (and driver)."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parking.audit.service import record as audit
from parking.ledger import repository as ledger_repo
from parking.models import Debt, DebtStatus, ParkingSession
from parking.payments import repository as repo


async def record_debt(db: AsyncSession, *, session_id: uuid.UUID, reason: str) -> Debt | None:
    """The car left unpaid: what the session still owes becomes a debt of its plate (and driver)."""
    owed = await ledger_repo.receivable_outstanding(db, session_id)
    if owed <= 0:
        return None
    sess = (await db.execute(select(ParkingSession).where(ParkingSession.id == session_id))).scalar_one()
    plate = sess.plate or sess.exit_plate
    driver_id = await repo.driver_for_plate(db, plate) if plate else None
    await db.execute(
        insert(Debt)
        .values(
            id=uuid.uuid4(),
            session_id=session_id,
            lot_id=sess.lot_id,
            plate=plate,
            driver_id=driver_id,
            amount_vnd=owed,
            reason=reason,
            status=DebtStatus.OPEN,
        )
        .on_conflict_do_nothing(index_elements=["session_id"])
    )
    await db.execute(
        update(ParkingSession)
        .where(ParkingSession.id == session_id)
        .values(payment_status="debt", updated_at=func.now())
    )
    await audit(
        db,
        actor="payments",
        action="debt.record",
        entity="parking_session",
        entity_id=str(session_id),
        data={"amount_vnd": owed, "reason": reason, "plate": plate},
    )
    return (await db.execute(select(Debt).where(Debt.session_id == session_id))).scalar_one()


async def open_debts_for_plate(db: AsyncSession, plate: str) -> list[Debt]:
    return list(
        (
            await db.execute(
                select(Debt).where(Debt.plate == plate, Debt.status == DebtStatus.OPEN).order_by(Debt.created_at)
            )
        ).scalars()
    )
