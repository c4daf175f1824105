"""Payment rules: exit charging, VietQR intents, bank confirmations, debts, refunds.

Every function runs in the caller's transaction and never commits. Money facts go to the ledger
through `repository.post_entry`, each with an idempotency key, so replays are harmless.
"""

from __future__ import annotations

import importlib
import importlib.util
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from parking.audit.service import record as audit
from parking.kit import outbox
from parking.kit.errors import AppError
from parking.models import (
    Debt,
    Lane,
    ParkingSession,
    Payment,
    PaymentIntent,
    PaymentMethod,
    PaymentNotification,
    Refund,
)
from parking.payments import ledger, vietqr
from parking.payments import repository as repo
from parking.payments.notifications import BankCredit
from parking.payments.provider import ProviderClient, ProviderResult
from parking.payments.settings import PaymentSettings, get_payment_settings

log = structlog.get_logger("parking.payments")

TOPIC_CHARGE = "payments.charge"
TOPIC_LANE_OPEN = "payments.lane_open"
TOPIC_REFUND = "payments.refund"


def exit_key(session_id: uuid.UUID) -> str:
    """Idempotency key of the exit charge, derived from the session: one session, one charge."""
    return f"exit-{session_id}"


def fmt_vnd(v: int) -> str:
    return f"{v:,}".replace(",", ".") + " đ"


# ------------------------------------------------------------------ confirmation (shared by all paths)


@dataclass
class Confirmed:
    payment: Payment
    outstanding_after: int
    opened_lane: bool = False
    flags: list[str] = field(default_factory=list)


async def _invoice_hook(db: AsyncSession, payment_id: uuid.UUID, *, at_exit: bool = False) -> None:
    """The e-invoice hook, called last in the transaction that confirms the payment."""
    if not get_payment_settings().issue_invoices or importlib.util.find_spec("parking.invoices.service") is None:
        return
    mod = importlib.import_module("parking.invoices.service")
    topic = getattr(mod, "TOPIC_ISSUE", None)
    if at_exit and topic and get_payment_settings().invoice_at_exit_via_outbox:
        # Same transaction as the confirmation, so the invoice cannot be lost; issued by the outbox worker.
        await outbox.enqueue(db, topic, {"payment_id": str(payment_id)}, key=f"{topic}:{payment_id}")
        return
    fn = getattr(mod, "on_payment_confirmed", None)
    if fn is not None:
        await fn(db, payment_id)


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
    payment.status = "confirmed"
    payment.provider_txn_id = provider_txn_id or payment.provider_txn_id
    payment.confirmed_at = now
    await db.flush()
    outstanding = await repo.receivable_outstanding(db, payment.session_id) if payment.session_id else 0
    applied = min(max(outstanding, 0), payment.amount_vnd)
    if payment.amount_vnd > applied:
        payment.flags = [*payment.flags, "overpaid" if applied else "unallocated"]
    if payment.amount_vnd:
        await repo.post_entry(
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
            .where(Debt.session_id == payment.session_id, Debt.status == "open")
            .values(status="paid", settled_payment_id=payment.id, settled_at=now)
        )
    await _invoice_hook(db, payment.id, at_exit=at_exit)
    return Confirmed(payment, left)


async def _enqueue_lane_open(db: AsyncSession, lane_id: uuid.UUID, session_id: uuid.UUID, key: str) -> None:
    await outbox.enqueue(
        db,
        TOPIC_LANE_OPEN,
        {"lane_id": str(lane_id), "session_id": str(session_id), "reason": "payment_confirmed"},
        key=f"lane-open:{key}",
    )


# ------------------------------------------------------------------ VietQR intents


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
                    status="open",
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


# ------------------------------------------------------------------ exit decision


@dataclass
class ExitAnswer:
    action: str
    title: str
    lines: list[str]
    payment_status: str
    payment: dict[str, Any] | None = None
    flags: list[str] = field(default_factory=list)


THANKS = "Cảm ơn / Thank you"
PAY = "Vui lòng thanh toán / Please pay"
WAIT = "Vui lòng chờ / Please wait"


async def exit_decision(
    db: AsyncSession,
    *,
    session_id: uuid.UUID,
    lot_id: uuid.UUID,
    lane_id: uuid.UUID,
    plate: str | None,
    fee_vnd: int,
    offline: bool,
    settings: PaymentSettings | None = None,
) -> ExitAnswer:
    s = settings or get_payment_settings()
    if fee_vnd <= 0:
        return ExitAnswer("open", THANKS, ["Miễn phí / No charge"], "free")
    # Revenue is recognised once per session; payments (now or later) clear the receivable.
    await repo.post_entry(db, ledger.fee_recognised(session_id=session_id, lot_id=lot_id, fee_vnd=fee_vnd))
    linked = await repo.linked_method_for_plate(db, plate) if plate else None
    if linked is not None:
        driver_id, method = linked
        answer = await _exit_linked(
            db,
            s,
            session_id=session_id,
            lane_id=lane_id,
            driver_id=driver_id,
            method=method,
            fee_vnd=fee_vnd,
            offline=offline,
        )
        if answer is not None:
            return answer
    if offline:
        # The car is gone and nobody can be charged automatically: it is a debt.
        await record_debt(db, session_id=session_id, reason="lane_offline")
        return ExitAnswer("open", THANKS, [], "deferred", flags=["debt_recorded"])
    return await _qr_answer(db, s, session_id=session_id, lane_id=lane_id, fee_vnd=fee_vnd)


async def _qr_answer(
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


def _answer_for(p: Payment) -> ExitAnswer | None:
    if p.status == "confirmed":
        return ExitAnswer("open", THANKS, ["Đã thanh toán / Paid"], "paid", flags=["linked_account"])
    if p.status == "pending":
        if p.lane_waiting:
            return ExitAnswer(
                "attendant",
                WAIT,
                ["Đang xác nhận thanh toán / Confirming payment"],
                "charging",
                flags=["linked_account", "charge_pending", "over_deferred_limit"],
            )
        return ExitAnswer(
            "open",
            THANKS,
            ["Đang thanh toán / Charging"],
            "charging",
            flags=["linked_account", "charge_pending"],
        )
    return None  # failed: fall through to a QR


async def _exit_linked(
    db: AsyncSession,
    s: PaymentSettings,
    *,
    session_id: uuid.UUID,
    lane_id: uuid.UUID,
    driver_id: uuid.UUID,
    method: PaymentMethod,
    fee_vnd: int,
    offline: bool,
) -> ExitAnswer | None:
    key = exit_key(session_id)
    payment_id = uuid.uuid4()
    inserted = (
        await db.execute(
            insert(Payment)
            .values(
                id=payment_id,
                session_id=session_id,
                driver_id=driver_id,
                purpose="session",
                amount_vnd=fee_vnd,
                status="pending",
                method="linked",
                provider=method.provider,
                idempotency_key=key,
                lane_id=lane_id,
                flags=[],
            )
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(Payment.id)
        )
    ).scalar_one_or_none()
    payment = await repo.payment_by_key(db, key, lock=inserted is None)
    assert payment is not None
    if inserted is None:
        # A repeated or concurrent exit for this session: same charge, same answer, never a second charge.
        return _answer_for(payment)
    # The outbox row guarantees completion even if we crash after the commit; it is delayed past the
    # inline attempt so the worker does not race it (both use the same idempotency key anyway).
    await outbox.enqueue(
        db,
        TOPIC_CHARGE,
        {"payment_id": str(payment_id), "token": method.token},
        key=f"charge:{payment_id}",
        delay_s=s.charge_deadline_s + 2,
    )
    if offline:
        return ExitAnswer("open", THANKS, [], "charging", flags=["linked_account", "charge_later"])
    res = await ProviderClient(s).charge(
        token=method.token,
        amount_vnd=fee_vnd,
        idempotency_key=key,
        description=f"Parking session {session_id}",
        timeout_s=s.charge_deadline_s,
    )
    if res.outcome == "succeeded":
        await confirm(db, payment, provider_txn_id=res.provider_txn_id, at_exit=True)
        return ExitAnswer("open", THANKS, ["Đã thanh toán / Paid"], "paid", flags=["linked_account"])
    if res.outcome == "declined":
        payment.status, payment.failure_code = "failed", res.code
        answer = await _qr_answer(db, s, session_id=session_id, lane_id=lane_id, fee_vnd=fee_vnd)
        answer.lines.insert(0, "Tài khoản liên kết bị từ chối / Linked account declined")
        answer.flags += ["linked_account", "charge_declined"]
        return answer
    # Unknown (timeout, 5xx): the background charge finishes the job with the same key. The lane opens
    # only while what the driver may owe us this way (this charge included) stays within the limit.
    if await repo.driver_exposure(db, driver_id) <= await _driver_limit(db, driver_id, s):
        return ExitAnswer(
            "open",
            THANKS,
            ["Đang thanh toán / Charging"],
            "charging",
            flags=["linked_account", "charge_pending"],
        )
    payment.lane_waiting = True
    return _answer_for(payment)


async def _driver_limit(db: AsyncSession, driver_id: uuid.UUID, s: PaymentSettings) -> int:
    from parking.models import Driver

    limit = (await db.execute(select(Driver.deferred_limit_vnd).where(Driver.id == driver_id))).scalar()
    return int(limit if limit is not None else s.default_deferred_limit_vnd)


async def background_charge(
    db: AsyncSession, *, payment_id: uuid.UUID, token: str, settings: PaymentSettings | None = None
) -> str:
    """Outbox handler body: finish a linked charge. Raises to be retried when the outcome is unknown."""
    s = settings or get_payment_settings()
    payment = (await db.execute(select(Payment).where(Payment.id == payment_id).with_for_update())).scalar_one()
    if payment.status != "pending":
        return payment.status
    res: ProviderResult = await ProviderClient(s).charge(
        token=token,
        amount_vnd=payment.amount_vnd,
        idempotency_key=payment.idempotency_key or str(payment.id),
        description=f"Parking session {payment.session_id}",
        timeout_s=10.0,
    )
    if res.outcome == "unknown":
        raise RuntimeError(f"charge outcome unknown ({res.code}); retrying with the same key")
    if res.outcome == "succeeded":
        await confirm(db, payment, provider_txn_id=res.provider_txn_id)
        if payment.lane_waiting and payment.lane_id and payment.session_id:
            await _enqueue_lane_open(db, payment.lane_id, payment.session_id, str(payment.id))
        return "confirmed"
    payment.status, payment.failure_code = "failed", res.code
    if payment.session_id:
        await record_debt(db, session_id=payment.session_id, reason="charge_failed")
    return "failed"


# ------------------------------------------------------------------ bank confirmations


@dataclass
class CreditOutcome:
    outcome: str  # confirmed | duplicate | orphan | underpaid | amount_mismatch | not_success
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
    await db.execute(
        insert(PaymentNotification).values(
            provider=provider,
            provider_txn_id=None,
            verified=False,
            outcome=reason,
            payment_id=None,
            payload=payload,
        )
    )


async def _apply_credit(db: AsyncSession, credit: BankCredit, now: datetime, strict: bool) -> CreditOutcome:
    existing = (
        await db.execute(
            select(Payment.id).where(
                Payment.provider == credit.provider, Payment.provider_txn_id == credit.provider_txn_id
            )
        )
    ).scalar()
    if existing is not None:
        return CreditOutcome("duplicate", existing)
    if not credit.success:
        return CreditOutcome("not_success")
    intent = await repo.intent_by_references(db, credit.candidates)
    if intent is not None and strict and credit.amount_vnd != intent.amount_vnd:
        return CreditOutcome("amount_mismatch")
    payment_id = uuid.uuid4()
    session_id = intent.session_id if intent else None
    if intent is not None and intent.purpose == "debt" and intent.debt_id:
        session_id = (await db.execute(select(Debt.session_id).where(Debt.id == intent.debt_id))).scalar()
    flags: list[str] = []
    if intent is not None and credit.amount_vnd != intent.amount_vnd:
        flags.append("amount_mismatch")
    if intent is not None and intent.status != "open":
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
                status="pending",
                method="vietqr",
                provider=credit.provider,
                provider_txn_id=credit.provider_txn_id,
                flags=flags,
                raw=credit.raw,
            )
            .on_conflict_do_nothing(index_elements=["provider", "provider_txn_id"])
            .returning(Payment.id)
        )
    ).scalar_one_or_none()
    if inserted is None:  # the same notification, delivered concurrently
        dup = (
            await db.execute(
                select(Payment.id).where(
                    Payment.provider == credit.provider, Payment.provider_txn_id == credit.provider_txn_id
                )
            )
        ).scalar()
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
    if intent.status == "open":
        intent.status, intent.paid_payment_id = "paid", payment_id
        # Open the barrier only while the driver can still be standing at it.
        if intent.purpose == "session" and intent.lane_id and intent.session_id and now < intent.expires_at:
            await _enqueue_lane_open(db, intent.lane_id, intent.session_id, str(payment_id))
            opened = True
    return CreditOutcome("confirmed", payment_id, opened)


# ------------------------------------------------------------------ debts


async def record_debt(db: AsyncSession, *, session_id: uuid.UUID, reason: str) -> Debt | None:
    """The car left unpaid: what the session still owes becomes a debt of its plate (and driver)."""
    owed = await repo.receivable_outstanding(db, session_id)
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
            status="open",
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
            await db.execute(select(Debt).where(Debt.plate == plate, Debt.status == "open").order_by(Debt.created_at))
        ).scalars()
    )


async def pay_debt_linked(
    db: AsyncSession, debt: Debt, *, driver_id: uuid.UUID, settings: PaymentSettings | None = None
) -> Payment:
    s = settings or get_payment_settings()
    method = (
        await db.execute(
            select(PaymentMethod).where(PaymentMethod.driver_id == driver_id, PaymentMethod.status == "active")
        )
    ).scalar()
    if method is None:
        raise AppError("no_linked_method", "Link a payment method first, or pay by VietQR.", 409)
    key = f"debt-{debt.id}"
    payment = await repo.payment_by_key(db, key, lock=True)
    if payment is None:
        payment = Payment(
            id=uuid.uuid4(),
            session_id=debt.session_id,
            driver_id=driver_id,
            purpose="debt",
            amount_vnd=debt.amount_vnd,
            status="pending",
            method="linked",
            provider=method.provider,
            idempotency_key=key,
            flags=[],
        )
        db.add(payment)
        await db.flush()
    if payment.status != "pending":
        return payment
    res = await ProviderClient(s).charge(
        token=method.token,
        amount_vnd=debt.amount_vnd,
        idempotency_key=key,
        description=f"Parking debt {debt.id}",
        timeout_s=10.0,
    )
    if res.outcome == "succeeded":
        await confirm(db, payment, provider_txn_id=res.provider_txn_id)
    elif res.outcome == "declined":
        payment.status, payment.failure_code = "failed", res.code
    else:  # unknown: finish in the background with the same key
        await outbox.enqueue(
            db,
            TOPIC_CHARGE,
            {"payment_id": str(payment.id), "token": method.token},
            key=f"charge:{payment.id}",
        )
    return payment


# ------------------------------------------------------------------ refunds


async def refund(db: AsyncSession, *, payment_id: uuid.UUID, amount_vnd: int, reason: str, actor: str) -> Refund:
    if amount_vnd <= 0:
        raise AppError("invalid_amount", "A refund amount is a positive integer VND.", 422)
    if not reason.strip():
        raise AppError("reason_required", "A refund needs a reason.", 422)
    p = (await db.execute(select(Payment).where(Payment.id == payment_id).with_for_update())).scalar_one_or_none()
    if p is None:
        raise AppError("payment_not_found", f"No payment {payment_id}.", 404)
    if p.status not in ("confirmed", "partially_refunded"):
        raise AppError("not_refundable", f"Payment is {p.status}; only confirmed payments are refunded.", 409)
    if amount_vnd > p.amount_vnd - p.refunded_vnd:
        raise AppError(
            "refund_exceeds_payment",
            "The refund is larger than what remains of the payment.",
            409,
            {"refundable_vnd": p.amount_vnd - p.refunded_vnd},
        )
    r = Refund(
        id=uuid.uuid4(),
        payment_id=p.id,
        amount_vnd=amount_vnd,
        reason=reason.strip(),
        actor=actor,
        status="pending",
    )
    db.add(r)
    p.refunded_vnd += amount_vnd
    p.status = "refunded" if p.refunded_vnd == p.amount_vnd else "partially_refunded"
    await db.flush()
    await repo.post_entry(
        db,
        ledger.refund_issued(
            refund_id=r.id,
            payment_id=p.id,
            session_id=p.session_id,
            provider=p.provider,
            amount_vnd=amount_vnd,
        ),
    )
    await audit(
        db,
        actor=actor,
        action="payment.refund",
        entity="payment",
        entity_id=str(p.id),
        data={"refund_id": str(r.id), "amount_vnd": amount_vnd, "reason": r.reason},
    )
    await outbox.enqueue(db, TOPIC_REFUND, {"refund_id": str(r.id)}, key=f"refund:{r.id}")
    return r


async def execute_refund(db: AsyncSession, *, refund_id: uuid.UUID, settings: PaymentSettings | None = None) -> str:
    """Outbox handler body: send the refund to the provider; a refusal is booked as a reversal."""
    r = (await db.execute(select(Refund).where(Refund.id == refund_id).with_for_update())).scalar_one()
    if r.status != "pending":
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
        r.status, r.provider_refund_id = "succeeded", res.provider_txn_id
        await db.flush()
        if get_payment_settings().issue_invoices:
            from parking.invoices.service import on_refund

            # An issued invoice is never edited: the refund gets an adjustment invoice linked to it.
            await on_refund(db, r.id)
        return "succeeded"
    r.status = "failed"
    p.refunded_vnd -= r.amount_vnd
    p.status = "confirmed" if p.refunded_vnd == 0 else "partially_refunded"
    key = f"refund:{r.id}"
    await repo.post_entry(
        db,
        ledger.reversal(
            key,
            await repo.entry_postings(db, key),
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
    return "failed"


# ------------------------------------------------------------------ housekeeping


async def expire_intents(
    db: AsyncSession, *, now: datetime | None = None, lot_ids: Collection[uuid.UUID] | None = None
) -> int:
    """QRs not paid in time: the exit became an unpaid exit, so the session owes a debt.

    `lot_ids` limits it to the QRs shown at those lots' lanes or for their sessions (a staff member's lots).
    """
    now = now or datetime.now(UTC)
    q = select(PaymentIntent).where(PaymentIntent.status == "open", PaymentIntent.expires_at < now)
    if lot_ids is not None:
        lanes = select(Lane.id).where(Lane.lot_id.in_(list(lot_ids)))
        sessions = select(ParkingSession.id).where(ParkingSession.lot_id.in_(list(lot_ids)))
        q = q.where(PaymentIntent.lane_id.in_(lanes) | PaymentIntent.session_id.in_(sessions))
    rows = list((await db.execute(q.with_for_update(skip_locked=True))).scalars())
    for intent in rows:
        intent.status = "expired"
        if intent.purpose == "session" and intent.session_id:
            await record_debt(db, session_id=intent.session_id, reason="qr_unpaid")
    return len(rows)


async def ledger_check(db: AsyncSession) -> dict[str, Any]:
    bad = await repo.unbalanced_entries(db)
    balances = await repo.account_balances(db)
    return {
        "balanced": not bad,
        "unbalanced_entries": bad,
        "balances": balances,
        "total": sum(balances.values()),
    }
