"""Refunds: full or partial, credit (money beyond the fee) first; sent through the outbox, a refusal reversed."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parking.audit.service import record as audit
from parking.kit import outbox
from parking.kit.errors import AppError
from parking.ledger import repository as ledger_repo
from parking.ledger import rules as ledger
from parking.models import Payment, PaymentStatus, Refund, RefundStatus
from parking.payments import hooks
from parking.payments import repository as repo
from parking.payments.provider import ProviderClient
from parking.payments.service.common import TOPIC_REFUND
from parking.payments.settings import PaymentSettings, get_payment_settings


async def refund(db: AsyncSession, *, payment_id: uuid.UUID, amount_vnd: int, reason: str, actor: str) -> Refund:
    if amount_vnd <= 0:
        raise AppError("invalid_amount", "A refund amount is a positive integer VND.", 422)
    if not reason.strip():
        raise AppError("reason_required", "A refund needs a reason.", 422)
    p = (await db.execute(select(Payment).where(Payment.id == payment_id).with_for_update())).scalar_one_or_none()
    if p is None:
        raise AppError("payment_not_found", f"No payment {payment_id}.", 404)
    if p.status not in (PaymentStatus.CONFIRMED, PaymentStatus.PARTIALLY_REFUNDED):
        raise AppError("not_refundable", f"Payment is {p.status}; only confirmed payments are refunded.", 409)
    if amount_vnd > p.amount_vnd - p.refunded_vnd:
        raise AppError(
            "refund_exceeds_payment",
            "The refund is larger than what remains of the payment.",
            409,
            {"refundable_vnd": p.amount_vnd - p.refunded_vnd},
        )
    # Money beyond the fee is given back first: it is a credit, so that part is not a correction of revenue.
    credit_vnd = min(amount_vnd, await repo.credit_left(db, p.id))
    r = Refund(
        id=uuid.uuid4(),
        payment_id=p.id,
        amount_vnd=amount_vnd,
        credit_vnd=credit_vnd,
        reason=reason.strip(),
        actor=actor,
        status=RefundStatus.PENDING,
    )
    db.add(r)
    p.refunded_vnd += amount_vnd
    p.status = PaymentStatus.REFUNDED if p.refunded_vnd == p.amount_vnd else PaymentStatus.PARTIALLY_REFUNDED
    await db.flush()
    await ledger_repo.post_entry(
        db,
        ledger.refund_issued(
            refund_id=r.id,
            payment_id=p.id,
            session_id=p.session_id,
            provider=p.provider,
            amount_vnd=amount_vnd,
            credit_vnd=credit_vnd,
        ),
    )
    await audit(
        db,
        actor=actor,
        action="payment.refund",
        entity="payment",
        entity_id=str(p.id),
        data={"refund_id": str(r.id), "amount_vnd": amount_vnd, "credit_vnd": credit_vnd, "reason": r.reason},
    )
    await outbox.enqueue(db, TOPIC_REFUND, {"refund_id": str(r.id)}, key=f"refund:{r.id}")
    return r


async def execute_refund(db: AsyncSession, *, refund_id: uuid.UUID, settings: PaymentSettings | None = None) -> str:
    """Outbox handler body: send the refund to the provider; a refusal is booked as a reversal."""
    r = (await db.execute(select(Refund).where(Refund.id == refund_id).with_for_update())).scalar_one()
    if r.status != RefundStatus.PENDING:
        return r.status
    p = (await db.execute(select(Payment).where(Payment.id == r.payment_id).with_for_update())).scalar_one()
    res = await ProviderClient(settings or get_payment_settings()).refund(
        provider_txn_id=p.provider_txn_id or "",
        amount_vnd=r.amount_vnd,
        reason=r.reason,
        idempotency_key=f"refund-{r.id}",
    )
    if res.outcome == "unknown":
        raise RuntimeError(f"refund outcome unknown ({res.code}); retrying with the same key")
    if res.outcome == "succeeded":
        r.status, r.provider_refund_id = RefundStatus.SUCCEEDED, res.provider_txn_id
        await db.flush()
        await hooks.refund_succeeded(db, r.id)  # e.g. an adjustment e-invoice, same transaction
        return RefundStatus.SUCCEEDED
    r.status = RefundStatus.FAILED
    p.refunded_vnd -= r.amount_vnd
    p.status = PaymentStatus.CONFIRMED if p.refunded_vnd == 0 else PaymentStatus.PARTIALLY_REFUNDED
    key = f"refund:{r.id}"
    await ledger_repo.post_entry(
        db,
        ledger.reversal(
            key,
            await ledger_repo.entry_postings(db, key),
            reason=f"provider refused refund: {res.code}",
            session_id=p.session_id,
        ),
    )
    await audit(
        db,
        actor="payments",
        action="payment.refund_failed",
        entity="payment",
        entity_id=str(p.id),
        data={"refund_id": str(r.id), "code": res.code},
    )
    return RefundStatus.FAILED
