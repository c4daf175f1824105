"""The exit decision: recognise the fee, then charge a linked account, show a VietQR, or record a debt."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from parking.ledger import repository as ledger_repo
from parking.ledger import rules as ledger
from parking.payments import repository as repo
from parking.payments.service.common import THANKS, ExitAnswer
from parking.payments.service.debts import record_debt
from parking.payments.service.linked import exit_linked
from parking.payments.service.qr import qr_answer
from parking.payments.settings import PaymentSettings, get_payment_settings


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
    charge_inline: bool = True,
    allow_linked: bool = True,
) -> ExitAnswer:
    """The exit's payment decision, inside the caller's transaction.

    ``charge_inline=False`` (the gate): no provider call here. A linked charge is recorded and returned as
    ``answer.charge``; the caller commits, calls `charge_linked` outside any transaction and lock, then records
    the outcome with `record_linked_outcome` in a second short transaction.
    """
    s = settings or get_payment_settings()
    if fee_vnd <= 0:
        return ExitAnswer("open", THANKS, ["Miễn phí / No charge"], "free")
    # Revenue is recognised once per session; payments (now or later) clear the receivable.
    await ledger_repo.post_entry(db, ledger.fee_recognised(session_id=session_id, lot_id=lot_id, fee_vnd=fee_vnd))
    # allow_linked=False: the exit read is not certain to be this plate (exit_hook / plate_guard).
    linked = await repo.linked_method_for_plate(db, plate) if plate and allow_linked else None
    if linked is not None:
        driver_id, method = linked
        answer = await exit_linked(
            db,
            s,
            session_id=session_id,
            lane_id=lane_id,
            driver_id=driver_id,
            method=method,
            fee_vnd=fee_vnd,
            offline=offline,
            charge_inline=charge_inline,
        )
        if answer is not None:
            return answer
    if offline:
        # The car is gone and nobody can be charged automatically: it is a debt.
        await record_debt(db, session_id=session_id, reason="lane_offline")
        return ExitAnswer("open", THANKS, [], "deferred", flags=["debt_recorded"])
    return await qr_answer(db, s, session_id=session_id, lane_id=lane_id, fee_vnd=fee_vnd)
