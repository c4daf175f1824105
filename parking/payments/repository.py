"""SQL for payments and the ledger. No business rules here."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parking.models import (
    Debt,
    DriverVehicle,
    LedgerEntry,
    LedgerPosting,
    Payment,
    PaymentIntent,
    PaymentMethod,
    Refund,
)
from parking.payments import ledger


async def post_entry(db: AsyncSession, entry: ledger.JournalEntry) -> bool:
    """Write a journal entry once; a replay with the same idempotency key is a no-op (returns False)."""
    entry_id = (
        await db.execute(
            insert(LedgerEntry)
            .values(
                id=uuid.uuid4(),
                kind=entry.kind,
                idempotency_key=entry.idempotency_key,
                session_id=entry.session_id,
                payment_id=entry.payment_id,
                reverses_key=entry.reverses_key,
                memo=entry.memo,
            )
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(LedgerEntry.id)
        )
    ).scalar_one_or_none()
    if entry_id is None:
        return False
    await db.execute(
        insert(LedgerPosting),
        [{"entry_id": entry_id, "account": p.account, "amount_vnd": p.amount_vnd} for p in entry.postings],
    )
    return True


async def entry_postings(db: AsyncSession, key: str) -> tuple[ledger.Posting, ...]:
    rows = (
        await db.execute(
            select(LedgerPosting.account, LedgerPosting.amount_vnd)
            .join(LedgerEntry, LedgerEntry.id == LedgerPosting.entry_id)
            .where(LedgerEntry.idempotency_key == key)
            .order_by(LedgerPosting.id)
        )
    ).all()
    return tuple(ledger.Posting(a, v) for a, v in rows)


async def receivable_outstanding(db: AsyncSession, session_id: uuid.UUID) -> int:
    """What the session still owes, read from the ledger (the source of truth for money)."""
    total = (
        await db.execute(
            select(func.coalesce(func.sum(LedgerPosting.amount_vnd), 0))
            .join(LedgerEntry, LedgerEntry.id == LedgerPosting.entry_id)
            .where(LedgerEntry.session_id == session_id, LedgerPosting.account == ledger.RECEIVABLE)
        )
    ).scalar_one()
    return int(total)


async def fee_recognised(db: AsyncSession, session_id: uuid.UUID) -> int | None:
    """The fee the ledger recognised for a session (net of reversals); None when it recognised none."""
    rows = (
        await db.execute(
            select(LedgerPosting.amount_vnd)
            .join(LedgerEntry, LedgerEntry.id == LedgerPosting.entry_id)
            .where(
                LedgerEntry.session_id == session_id,
                LedgerPosting.account == ledger.RECEIVABLE,
                or_(LedgerEntry.kind == "fee", LedgerEntry.reverses_key == f"fee:{session_id}"),
            )
        )
    ).scalars()
    amounts = list(rows)
    return int(sum(amounts)) if amounts else None


async def unbalanced_entries(db: AsyncSession) -> list[dict[str, Any]]:
    rows = (
        await db.execute(
            select(LedgerPosting.entry_id, func.sum(LedgerPosting.amount_vnd), func.count())
            .group_by(LedgerPosting.entry_id)
            .having((func.sum(LedgerPosting.amount_vnd) != 0) | (func.count() < 2))
        )
    ).all()
    return [{"entry_id": str(e), "sum": int(s), "postings": int(n)} for e, s, n in rows]


async def account_balances(db: AsyncSession) -> dict[str, int]:
    rows = (
        await db.execute(
            select(LedgerPosting.account, func.sum(LedgerPosting.amount_vnd)).group_by(LedgerPosting.account)
        )
    ).all()
    return {a: int(s) for a, s in rows}


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
    credited = (
        await db.execute(
            select(func.coalesce(func.sum(LedgerPosting.amount_vnd), 0))
            .join(LedgerEntry, LedgerEntry.id == LedgerPosting.entry_id)
            .where(LedgerEntry.idempotency_key == f"payment:{payment_id}", LedgerPosting.account == ledger.UNALLOCATED)
        )
    ).scalar_one()
    refunded = (
        await db.execute(
            select(func.coalesce(func.sum(Refund.credit_vnd), 0)).where(
                Refund.payment_id == payment_id, Refund.status != "failed"
            )
        )
    ).scalar_one()
    return max(0, -int(credited) - int(refunded))
