"""Linked accounts (e-wallet/bank token): the charge at the exit, its background completion, paying a debt."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parking.kit import outbox
from parking.kit.errors import AppError
from parking.models import Debt, Driver, Payment, PaymentMethod, PaymentStatus
from parking.payments import repository as repo
from parking.payments.provider import ProviderClient, ProviderResult
from parking.payments.service.common import (
    THANKS,
    TOPIC_CHARGE,
    WAIT,
    ExitAnswer,
    PendingCharge,
    enqueue_lane_open,
    exit_key,
)
from parking.payments.service.confirm import confirm
from parking.payments.service.debts import record_debt
from parking.payments.service.qr import qr_answer
from parking.payments.settings import PaymentSettings, get_payment_settings


def answer_for(p: Payment) -> ExitAnswer | None:
    if p.status == PaymentStatus.CONFIRMED:
        return ExitAnswer("open", THANKS, ["Đã thanh toán / Paid"], "paid", flags=["linked_account"])
    if p.status == PaymentStatus.PENDING:
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


async def exit_linked(
    db: AsyncSession,
    s: PaymentSettings,
    *,
    session_id: uuid.UUID,
    lane_id: uuid.UUID,
    driver_id: uuid.UUID,
    method: PaymentMethod,
    fee_vnd: int,
    offline: bool,
    charge_inline: bool = True,
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
                status=PaymentStatus.PENDING,
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
        return answer_for(payment)
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
    pending = PendingCharge(payment_id, session_id, lane_id, driver_id, method.token, fee_vnd, key)
    if not charge_inline:
        # Provisional answer, stored until the outcome is recorded: what a lost provider answer would give.
        answer = await _outcome_unknown(db, s, payment, driver_id)
        answer.charge = pending
        return answer
    res = await charge_linked(pending, s)
    return await _apply_outcome(db, s, payment, pending, res)


async def charge_linked(p: PendingCharge, settings: PaymentSettings | None = None) -> ProviderResult:
    """The provider call of an exit charge, bounded by the charge deadline. Hold no transaction across it."""
    s = settings or get_payment_settings()
    return await ProviderClient(s).charge(
        token=p.token,
        amount_vnd=p.fee_vnd,
        idempotency_key=p.idempotency_key,
        description=f"Parking session {p.session_id}",
        timeout_s=s.charge_deadline_s,
    )


async def record_linked_outcome(
    db: AsyncSession, p: PendingCharge, res: ProviderResult, settings: PaymentSettings | None = None
) -> ExitAnswer:
    """Second short transaction of a linked exit: record what the provider answered (idempotent).

    If the background completion got there first (the payment is no longer pending), its result stands.
    """
    s = settings or get_payment_settings()
    payment = (
        await db.execute(
            select(Payment)
            .where(Payment.id == p.payment_id)
            .with_for_update()
            .execution_options(populate_existing=True)  # the outbox may have finished it since our first commit
        )
    ).scalar_one()
    if payment.status != PaymentStatus.PENDING:
        answer = answer_for(payment)
        if answer is None:  # failed earlier: the driver pays by QR
            answer = await qr_answer(db, s, session_id=p.session_id, lane_id=p.lane_id, fee_vnd=p.fee_vnd)
            answer.flags += ["linked_account", "charge_declined"]
        return answer
    return await _apply_outcome(db, s, payment, p, res)


async def _apply_outcome(
    db: AsyncSession, s: PaymentSettings, payment: Payment, p: PendingCharge, res: ProviderResult
) -> ExitAnswer:
    if res.outcome == "succeeded":
        payment.lane_waiting = False  # the lane is told "open" now; no command needed later
        await confirm(db, payment, provider_txn_id=res.provider_txn_id, at_exit=True)
        return ExitAnswer("open", THANKS, ["Đã thanh toán / Paid"], "paid", flags=["linked_account"])
    if res.outcome == "declined":
        payment.status, payment.failure_code = PaymentStatus.FAILED, res.code
        payment.lane_waiting = False
        answer = await qr_answer(db, s, session_id=p.session_id, lane_id=p.lane_id, fee_vnd=p.fee_vnd)
        answer.lines.insert(0, "Tài khoản liên kết bị từ chối / Linked account declined")
        answer.flags += ["linked_account", "charge_declined"]
        return answer
    return await _outcome_unknown(db, s, payment, p.driver_id)


async def _outcome_unknown(db: AsyncSession, s: PaymentSettings, payment: Payment, driver_id: uuid.UUID) -> ExitAnswer:
    # Unknown (timeout, 5xx): the background charge finishes the job with the same key. The lane opens
    # only while what the driver may owe us this way (this charge included) stays within the limit.
    if await repo.driver_exposure(db, driver_id) <= await _driver_limit(db, driver_id, s):
        payment.lane_waiting = False
        return ExitAnswer(
            "open",
            THANKS,
            ["Đang thanh toán / Charging"],
            "charging",
            flags=["linked_account", "charge_pending"],
        )
    payment.lane_waiting = True
    answer = answer_for(payment)
    assert answer is not None
    return answer


async def _driver_limit(db: AsyncSession, driver_id: uuid.UUID, s: PaymentSettings) -> int:
    limit = (await db.execute(select(Driver.deferred_limit_vnd).where(Driver.id == driver_id))).scalar()
    return int(limit if limit is not None else s.default_deferred_limit_vnd)


async def background_charge(
    db: AsyncSession, *, payment_id: uuid.UUID, token: str, settings: PaymentSettings | None = None
) -> str:
    """Outbox handler body: finish a linked charge. Raises to be retried when the outcome is unknown."""
    s = settings or get_payment_settings()
    payment = (await db.execute(select(Payment).where(Payment.id == payment_id).with_for_update())).scalar_one()
    if payment.status != PaymentStatus.PENDING:
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
            await enqueue_lane_open(db, payment.lane_id, payment.session_id, str(payment.id))
        return PaymentStatus.CONFIRMED
    payment.status, payment.failure_code = PaymentStatus.FAILED, res.code
    if payment.session_id:
        await record_debt(db, session_id=payment.session_id, reason="charge_failed")
    return PaymentStatus.FAILED


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
            status=PaymentStatus.PENDING,
            method="linked",
            provider=method.provider,
            idempotency_key=key,
            flags=[],
        )
        db.add(payment)
        await db.flush()
    if payment.status != PaymentStatus.PENDING:
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
        payment.status, payment.failure_code = PaymentStatus.FAILED, res.code
    else:  # unknown: finish in the background with the same key
        await outbox.enqueue(
            db,
            TOPIC_CHARGE,
            {"payment_id": str(payment.id), "token": method.token},
            key=f"charge:{payment.id}",
        )
    return payment
