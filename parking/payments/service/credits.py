"""Bank and gateway notifications: one transfer is one payment, whichever channel reports it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parking.kit import bounded
from parking.kit.metrics import UNVERIFIED_NOTIFICATIONS
from parking.models import Debt, IntentStatus, Payment, PaymentNotification, PaymentStatus
from parking.payments import repository as repo
from parking.payments.notifications import BankCredit
from parking.payments.service.common import enqueue_lane_open
from parking.payments.service.confirm import confirm

log = structlog.get_logger("parking.payments")


@dataclass
class CreditOutcome:
    outcome: str  # confirmed | duplicate | orphan | underpaid | amount_mismatch | not_success | unknown_reference
    payment_id: uuid.UUID | None = None
    opened_lane: bool = False


async def handle_credit(
    db: AsyncSession, credit: BankCredit, *, now: datetime | None = None, strict_amount: bool = False
) -> CreditOutcome:
    """Apply one verified bank/gateway notification. Safe to call again with the same notification.

    `strict_amount` (gateway IPN): a wrong amount is refused and the gateway reverses it. A bank
    transfer cannot be refused (the money is in our account), so it is booked and flagged instead.
    """
    now = now or datetime.now(UTC)
    result = await _apply_credit(db, credit, now, strict_amount)
    await db.execute(
        insert(PaymentNotification).values(
            provider=credit.provider,
            provider_txn_id=credit.provider_txn_id,
            verified=True,
            outcome=result.outcome,
            payment_id=result.payment_id,
            payload=credit.raw,
        )
    )
    return result


async def log_rejected(db: AsyncSession, provider: str, reason: str, payload: dict[str, Any]) -> None:
    # Unverified: anyone can send it, so it is counted and kept in bounded form only, never stored whole.
    brief = bounded.summary(payload)
    UNVERIFIED_NOTIFICATIONS.labels(provider, reason).inc()
    log.warning("payment_notification_rejected", provider=provider, reason=reason, **brief)
    await db.execute(
        insert(PaymentNotification).values(
            provider=provider,
            provider_txn_id=None,
            verified=False,
            outcome=reason,
            payment_id=None,
            payload=brief,
        )
    )


async def _apply_credit(db: AsyncSession, credit: BankCredit, now: datetime, strict: bool) -> CreditOutcome:
    # One transfer is one payment whichever notifier reports it: the notifier's own id catches its
    # redeliveries, the bank's reference catches the same transfer reported by the other channel.
    existing = await repo.payment_for_transfer(db, credit.provider, credit.provider_txn_id, credit.bank_ref)
    if existing is not None:
        return CreditOutcome("duplicate", existing)
    if not credit.success:
        return CreditOutcome("not_success")
    intent = await repo.intent_by_references(db, credit.candidates)
    if intent is None and strict:
        # A gateway can be told "order not found" (it does not settle it), so nothing is booked and the
        # answer says exactly that. A bank transfer cannot be refused: it is booked as an orphan below.
        return CreditOutcome("unknown_reference")
    if intent is not None and strict and credit.amount_vnd != intent.amount_vnd:
        return CreditOutcome("amount_mismatch")
    payment_id = uuid.uuid4()
    session_id = intent.session_id if intent else None
    if intent is not None and intent.purpose == "debt" and intent.debt_id:
        session_id = (await db.execute(select(Debt.session_id).where(Debt.id == intent.debt_id))).scalar()
    flags: list[str] = []
    if intent is not None and credit.amount_vnd != intent.amount_vnd:
        flags.append("amount_mismatch")
    if intent is not None and intent.status != IntentStatus.OPEN:
        flags.append(f"intent_{intent.status}")
    inserted = (
        await db.execute(
            insert(Payment)
            .values(
                id=payment_id,
                session_id=session_id,
                intent_id=intent.id if intent else None,
                purpose=(intent.purpose if intent else "orphan"),
                amount_vnd=credit.amount_vnd,
                status=PaymentStatus.PENDING,
                method="vietqr",
                provider=credit.provider,
                provider_txn_id=credit.provider_txn_id,
                bank_ref=credit.bank_ref,
                flags=flags,
                raw=credit.raw,
            )
            # Any of the unique keys (notifier id, bank reference): a concurrent report of the same transfer.
            .on_conflict_do_nothing()
            .returning(Payment.id)
        )
    ).scalar_one_or_none()
    if inserted is None:  # the same transfer, reported concurrently (same or other channel)
        dup = await repo.payment_for_transfer(db, credit.provider, credit.provider_txn_id, credit.bank_ref)
        return CreditOutcome("duplicate", dup)
    payment = (await db.execute(select(Payment).where(Payment.id == payment_id))).scalar_one()
    done = await confirm(db, payment, provider_txn_id=credit.provider_txn_id, now=now)
    if intent is None:
        log.warning(
            "payments.orphan_credit",
            provider=credit.provider,
            txn=credit.provider_txn_id,
            content=credit.content,
        )
        return CreditOutcome("orphan", payment_id)
    if done.outstanding_after > 0:
        return CreditOutcome("underpaid", payment_id)
    opened = False
    if intent.status == IntentStatus.OPEN:
        intent.status, intent.paid_payment_id = IntentStatus.PAID, payment_id
        # Open the barrier only while the driver can still be standing at it.
        if intent.purpose == "session" and intent.lane_id and intent.session_id and now < intent.expires_at:
            await enqueue_lane_open(db, intent.lane_id, intent.session_id, str(payment_id))
            opened = True
    return CreditOutcome("confirmed", payment_id, opened)
