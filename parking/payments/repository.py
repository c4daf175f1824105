"""SQL for payments. No business rules here (the ledger's SQL is in parking.ledger.repository)."""

from __future__ import annotations

import uuid

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from parking.ledger import repository as ledger_repo
from parking.ledger import rules
from parking.models import (
    Debt,
    DriverVehicle,
    ParkingSession,
    Payment,
    PaymentIntent,
    PaymentMethod,
    Refund,
)


async def linked_method_for_plate(db: AsyncSession, plate: str) -> tuple[uuid.UUID, PaymentMethod] | None:
    row = (
        await db.execute(
            select(DriverVehicle.driver_id, PaymentMethod)
            .join(PaymentMethod, PaymentMethod.driver_id == DriverVehicle.driver_id)
            .where(DriverVehicle.plate == plate, PaymentMethod.status == "active")
        )
    ).first()
    return (row[0], row[1]) if row else None


async def driver_for_plate(db: AsyncSession, plate: str) -> uuid.UUID | None:
    return (await db.execute(select(DriverVehicle.driver_id).where(DriverVehicle.plate == plate))).scalar()


async def driver_exposure(db: AsyncSession, driver_id: uuid.UUID) -> int:
    """What the driver may owe us right now: unconfirmed linked charges plus open debts."""
    pending = (
        await db.execute(
            select(func.coalesce(func.sum(Payment.amount_vnd), 0)).where(
                Payment.driver_id == driver_id, Payment.status == "pending", Payment.method == "linked"
            )
        )
    ).scalar_one()
    debts = (
        await db.execute(
            select(func.coalesce(func.sum(Debt.amount_vnd), 0)).where(
                Debt.driver_id == driver_id, Debt.status == "open"
            )
        )
    ).scalar_one()
    return int(pending) + int(debts)


async def payment_by_key(db: AsyncSession, key: str, lock: bool = False) -> Payment | None:
    q = select(Payment).where(Payment.idempotency_key == key)
    return (await db.execute(q.with_for_update() if lock else q)).scalar_one_or_none()


async def open_session_intent(db: AsyncSession, session_id: uuid.UUID) -> PaymentIntent | None:
    return (
        await db.execute(
            select(PaymentIntent).where(
                PaymentIntent.session_id == session_id,
                PaymentIntent.status == "open",
                PaymentIntent.purpose == "session",
            )
        )
    ).scalar_one_or_none()


async def intent_by_references(db: AsyncSession, refs: list[str]) -> PaymentIntent | None:
    if not refs:
        return None
    rows = (
        (await db.execute(select(PaymentIntent).where(PaymentIntent.reference.in_(refs)).with_for_update()))
        .scalars()
        .all()
    )
    by_ref = {r.reference: r for r in rows}
    for ref in refs:  # candidates are ordered best first
        if ref in by_ref:
            return by_ref[ref]
    return None


async def payment_for_transfer(
    db: AsyncSession, provider: str, provider_txn_id: str, bank_ref: str | None
) -> uuid.UUID | None:
    """The payment already booked for this transfer: same notifier id, or same bank reference."""
    same = [and_(Payment.provider == provider, Payment.provider_txn_id == provider_txn_id)]
    if bank_ref:
        same.append(Payment.bank_ref == bank_ref)
    return (await db.execute(select(Payment.id).where(or_(*same)).limit(1))).scalar()


async def credit_left(db: AsyncSession, payment_id: uuid.UUID) -> int:
    """Money of a payment beyond what it paid (its `unallocated` posting) not yet given back by a refund."""
    credited = await ledger_repo.account_total_of_entry(db, f"payment:{payment_id}", rules.UNALLOCATED)
    refunded = (
        await db.execute(
            select(func.coalesce(func.sum(Refund.credit_vnd), 0)).where(
                Refund.payment_id == payment_id, Refund.status != "failed"
            )
        )
    ).scalar_one()
    return max(0, -int(credited) - int(refunded))


async def session_lot(db: AsyncSession, session_id: uuid.UUID | None) -> uuid.UUID | None:
    """The lot of a session (None for no session): what staff scoping checks a payment against."""
    if session_id is None:
        return None
    lot: uuid.UUID | None = (
        await db.execute(select(ParkingSession.lot_id).where(ParkingSession.id == session_id))
    ).scalar_one_or_none()
    return lot


async def payment_session(db: AsyncSession, payment_id: uuid.UUID) -> uuid.UUID | None:
    found: uuid.UUID | None = (
        await db.execute(select(Payment.session_id).where(Payment.id == payment_id))
    ).scalar_one_or_none()
    return found


async def intent_by_reference(db: AsyncSession, reference: str) -> PaymentIntent | None:
    return (await db.execute(select(PaymentIntent).where(PaymentIntent.reference == reference.upper()))).scalar()
