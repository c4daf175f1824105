"""The demo's day reconciled while drivers keep paying (as under `make run`, where the demo payer never stops).

Done-when of issue 10: the demo's day reconciles with every injected fault found in its class and nothing else
flagged. Payments the simulator serves after the files' cut-off are not on those files; they must not show up
as `missing_at_provider` (or anything else): they belong to the next files.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.kit.db import transaction
from parking.models import Discrepancy, Payment, PaymentIntent
from parking.payments import service as payments
from reconciliation.demo import reconcile_demo_day
from reconciliation.rules import VN_TZ
from reconciliation.service import run_day
from tests.factories import make_lot
from tests.reconciliation.daybuilder import session_with_qr

# what each fault the demo injects must be found as (None: the reference is still found, a clean match)
FAULT_CLASS = {
    "missing_credit": "missing_at_provider",
    "duplicate_credit": "duplicate_credit",
    "underpaid": "amount_mismatch",
    "x100": "amount_mismatch",
    "fee_at_source": "amount_mismatch",
    "after_midnight": "late_settlement",
    "settled_next_day": "late_settlement",
    "refund_reversal": "refund_reversal",
    "truncated_reference": None,
    "spaced_reference": None,
    "lost_notification": "status_mismatch",
}


async def _confirmed(sm: async_sessionmaker[AsyncSession], sessions: list[uuid.UUID]) -> int:
    async with sm() as db:
        rows = await db.execute(
            select(Payment.id).where(Payment.session_id.in_(sessions), Payment.status == "confirmed")
        )
        return len(rows.all())


async def test_demo_day_with_live_traffic_finds_each_fault_in_its_class_and_nothing_else(
    sessionmaker: async_sessionmaker[AsyncSession], recon_sim: str
) -> None:
    lot = await make_lot(sessionmaker, capacities={"car_small": 500})
    today = datetime.now(VN_TZ).date()
    async with httpx.AsyncClient(base_url=recon_sim, timeout=30) as sim:
        assert (await sim.post("/_reset")).status_code == 200  # the simulator serves only this test's day
        paid: list[uuid.UUID] = []
        for i in range(16):  # 12 bank transfers, 4 through the gateway
            sid, qr = await session_with_qr(sessionmaker, lot, 10_000 + 1_000 * i)
            r = await sim.post("/vietqr/pay", json={"qr_payload": qr, "channel": "sepay" if i < 12 else "vnpay"})
            assert r.status_code == 201
            paid.append(sid)
        unpaid, _ = await session_with_qr(sessionmaker, lot, 27_000)
        async with transaction(sessionmaker) as db:
            # the demo "loses" the notification of the day's first expired QR: make it this one
            first = datetime.combine(today, datetime.min.time(), VN_TZ) + timedelta(seconds=1)
            await db.execute(
                text("UPDATE payment_intents SET status = 'expired', created_at = :t WHERE session_id = :s"),
                {"s": unpaid, "t": first},
            )
            await payments.record_debt(db, session_id=unpaid, reason="qr_unpaid")
        for _ in range(200):
            if await _confirmed(sessionmaker, paid) == len(paid):
                break
            await asyncio.sleep(0.1)
        assert await _confirmed(sessionmaker, paid) == len(paid)

        # drivers keep paying, bank transfers and gateway, while the demo injects, downloads, imports and runs
        stop = asyncio.Event()
        traffic: list[uuid.UUID] = []

        async def drivers() -> None:
            n = 0
            while not stop.is_set():
                sid, qr = await session_with_qr(sessionmaker, lot, 5_000 + 500 * (n % 7))
                channel = "vnpay" if n % 4 == 3 else "sepay"
                r = await sim.post("/vietqr/pay", json={"qr_payload": qr, "channel": channel})
                assert r.status_code == 201
                traffic.append(sid)
                n += 1
                await asyncio.sleep(0.02)

        task = asyncio.create_task(drivers())
        try:
            await asyncio.sleep(0.3)
            async with transaction(sessionmaker) as db:
                out = await reconcile_demo_day(db, today, sim_url=recon_sim)
            await asyncio.sleep(0.3)
        finally:
            stop.set()
            await task
        ledger_state = (await sim.get("/_ledger")).json()
        await sim.post("/_reset")  # the next test's simulator day starts clean again

    # the scenario happened: payments were confirmed after the files' cut-off, while the day was reconciled
    cutoff = datetime.fromisoformat(out["cutoff"])
    for _ in range(100):
        if await _confirmed(sessionmaker, traffic) == len(traffic):
            break
        await asyncio.sleep(0.1)
    async with sessionmaker() as db:
        late = (
            await db.execute(select(Payment.id).where(Payment.session_id.in_(traffic), Payment.confirmed_at >= cutoff))
        ).all()
    assert late, "no payment arrived after the cut-off: the test did not exercise live traffic"

    # every injected fault, found in its class, on its own session; nothing else flagged in the lot
    by_txn = {}
    for q in ledger_state["qr_payments"]:
        by_txn[q["id"]] = q["reference"]
        by_txn[q["vnpay_txn_no"]] = q["reference"]
    injected = dict(out["injected"])
    assert set(injected) >= set(FAULT_CLASS) | {"static_qr", "transfer_late"}, injected
    refs = {mode: (by_txn.get(txn) or txn) for mode, txn in injected.items() if mode in FAULT_CLASS}
    async with sessionmaker() as db:
        session_of = dict(
            (
                await db.execute(
                    select(PaymentIntent.reference, PaymentIntent.session_id).where(
                        PaymentIntent.reference.in_(list(refs.values()))
                    )
                )
            ).all()
        )
        found = (
            (
                await db.execute(
                    select(Discrepancy).where(Discrepancy.business_date == today, Discrepancy.lot_id == lot.id)
                )
            )
            .scalars()
            .all()
        )
        mine = {i["file_id"] for i in out["imports"]}
        lotless = (
            (
                await db.execute(
                    text(
                        """SELECT d.code FROM recon_discrepancies d
                         LEFT JOIN recon_statement_lines l ON l.id = d.statement_line_id
                        WHERE d.business_date = :d AND d.lot_id IS NULL AND d.code <> 'transfer_late'
                          AND l.file_id = ANY(CAST(:f AS uuid[]))"""
                    ),
                    {"d": today, "f": list(mine)},
                )
            )
            .scalars()
            .all()
        )
    want = Counter((session_of[refs[m]], c) for m, c in FAULT_CLASS.items() if c is not None)
    got = Counter((d.session_id, d.code) for d in found)
    assert got == want, {"unexpected": got - want, "missed": want - got}
    assert Counter(lotless) == Counter({"orphan_credit": 1})  # the one static-QR credit
    assert out["summary"]["discrepancies"]["transfer_late"] >= 1
    assert out["summary"]["window_end"] == cutoff.astimezone(UTC).isoformat()

    # a run cut during the day is not the day's run: the nightly job (skip_if_done) still reconciles the day
    async with transaction(sessionmaker) as db:
        assert await run_day(db, today, trigger="nightly", skip_if_done=True) is not None
