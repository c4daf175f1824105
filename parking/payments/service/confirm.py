"""Confirmation, shared by every payment path: mark confirmed, book it, clear what the session owes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession

from parking.ledger import repository as ledger_repo
from parking.ledger import rules as ledger
from parking.models import Debt, DebtStatus, ParkingSession, Payment, PaymentStatus
from parking.payments import hooks


@dataclass
class Confirmed:
    payment: Payment
    outstanding_after: int
    opened_lane: bool = False
    flags: list[str] = field(default_factory=list)


async def confirm(
    db: AsyncSession,
    payment: Payment,
    *,
    provider_txn_id: str | None,
    now: datetime | None = None,
    at_exit: bool = False,
) -> Confirmed:
    """Mark a payment confirmed and book it: what the session owes is cleared, any excess is unallocated.

    `at_exit`: confirmed inside the exit decision itself, where the gate writes the session's payment
    status from our answer and no debt can exist yet, so those two updates are skipped (latency).
    """
    now = now or datetime.now(UTC)
    payment.status = PaymentStatus.CONFIRMED
    payment.provider_txn_id = provider_txn_id or payment.provider_txn_id
    payment.confirmed_at = now
    await db.flush()
    outstanding = await ledger_repo.receivable_outstanding(db, payment.session_id) if payment.session_id else 0
    applied = min(max(outstanding, 0), payment.amount_vnd)
    if payment.amount_vnd > applied:
        payment.flags = [*payment.flags, "overpaid" if applied else "unallocated"]
    if payment.amount_vnd:
        await ledger_repo.post_entry(
            db,
            ledger.payment_received(
                payment_id=payment.id,
                session_id=payment.session_id,
                provider=payment.provider,
                amount_vnd=payment.amount_vnd,
                applied_vnd=applied,
            ),
        )
    left = outstanding - applied
    if payment.session_id and left <= 0 and not at_exit:
        await db.execute(
            update(ParkingSession)
            .where(ParkingSession.id == payment.session_id)
            .values(payment_status="paid", updated_at=func.now())
        )
        await db.execute(
            update(Debt)
            .where(Debt.session_id == payment.session_id, Debt.status == DebtStatus.OPEN)
            .values(status=DebtStatus.PAID, settled_payment_id=payment.id, settled_at=now)
        )
    await hooks.payment_confirmed(db, payment.id, at_exit=at_exit)  # e.g. the e-invoice, same transaction
    return Confirmed(payment, left)
