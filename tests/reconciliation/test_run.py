"""The nightly run end to end on a real database: each fault injected alone lands in its class and nothing
else is flagged; all together; re-runs are identical; healing leaves `invoices verify` clean."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.invoices.verify import verify_day
from parking.kit.db import transaction
from parking.models import Debt, Discrepancy, ParkingSession, RefundProposal
from reconciliation.rules import CLASS_CODES
from reconciliation.service import run_day
from reconciliation.settings import ReconSettings
from tests.factories import LotHandle
from tests.reconciliation.daybuilder import Day, add_exit_without_session, add_sale, deliver_files, fresh_day

EXPECT: dict[str, str | None] = {
    "missing_credit": "missing_at_provider",
    "duplicate_credit": "duplicate_credit",
    "underpaid": "amount_mismatch",
    "overpaid": "amount_mismatch",
    "fee_at_source": "amount_mismatch",
    "x100": "amount_mismatch",
    "after_midnight": "late_settlement",
    "settled_next_day": "late_settlement",
    "refund_reversal": "refund_reversal",
    "truncated_reference": None,  # still matched: the partial token, amount and time agree
    "spaced_reference": None,
    "static_qr": "orphan_credit",
    "transfer_late": "transfer_late",
    "lost_notification": "status_mismatch",
    "leakage": "leakage",
}
CHARGE_FAULTS = {"x100", "settled_next_day"}
SETTINGS = ReconSettings(auto_refund_limit_vnd=50_000)


async def build(sm: async_sessionmaker[AsyncSession], lot: LotHandle, faults: list[str]) -> Day:
    d = Day(fresh_day(), lot)
    for i, amount in enumerate((25_000, 30_000, 5_000, 60_000)):  # a clean background
        await add_sale(sm, d, d.local(7, 10 * i), amount)
    for i, amount in enumerate((35_000, 40_000)):
        await add_sale(sm, d, d.local(8, 10 * i), amount, channel="charge")
    for k, fault in enumerate(faults):
        at = d.local(9 + k // 4, (k % 4) * 13)
        if fault == "static_qr":
            d.faults.static_qr.append((12_000, d.local(15, 7)))
        elif fault == "transfer_late":
            d.faults.transfer_late = True
        elif fault == "leakage":
            await add_exit_without_session(sm, d, at)
        elif fault == "lost_notification":
            await add_sale(sm, d, at, 20_000 + 1000 * k, notified=False)
        else:
            if fault == "after_midnight":
                at = d.local(23, 40)
            sale = await add_sale(sm, d, at, 20_000 + 1000 * k, channel="charge" if fault in CHARGE_FAULTS else "bank")
            d.faults.per_txn[sale.txn_id] = fault
    return d


def expected_counts(faults: list[str]) -> dict[str, int]:
    out = dict.fromkeys(CLASS_CODES, 0)
    for f in faults:
        code = EXPECT[f]
        if code:
            out[code] += 1
    return out


async def reconcile(sm: async_sessionmaker[AsyncSession], d: Day) -> dict[str, Any]:
    async with transaction(sm) as db:
        out = await run_day(db, d.day, settings=SETTINGS, trigger="test")
    assert out is not None
    return out


@pytest.mark.parametrize("fault", sorted(EXPECT))
async def test_each_fault_alone_is_found_in_its_class_and_nothing_else(
    sessionmaker: async_sessionmaker[AsyncSession], recon_lot: LotHandle, tmp_path: Path, fault: str
) -> None:
    d = await build(sessionmaker, recon_lot, [fault])
    await deliver_files(sessionmaker, d, tmp_path, provider="sim")
    summary = await reconcile(sessionmaker, d)
    assert summary["discrepancies"] == expected_counts([fault]), summary
    assert set(summary["discrepancies"]) == set(CLASS_CODES)
    assert summary["payments"] == len([s for s in d.sales if s.payment_id])


async def test_clean_day_matches_everything(
    sessionmaker: async_sessionmaker[AsyncSession], recon_lot: LotHandle, tmp_path: Path
) -> None:
    d = await build(sessionmaker, recon_lot, [])
    await deliver_files(sessionmaker, d, tmp_path, provider="sim", layout="techcombank", suffix="xlsx")
    s = await reconcile(sessionmaker, d)
    assert s["discrepancies"] == dict.fromkeys(CLASS_CODES, 0)
    assert s["payments"] == s["matched"] == 6
    assert s["amounts"]["expected_vnd"] == 25_000 + 30_000 + 5_000 + 60_000 + 35_000 + 40_000
    assert s["amounts"]["difference_vnd"] == 0


async def test_all_faults_together_rerun_identical_heal_and_invoices_verify_clean(
    sessionmaker: async_sessionmaker[AsyncSession], recon_lot: LotHandle, tmp_path: Path
) -> None:
    faults = sorted(EXPECT)
    d = await build(sessionmaker, recon_lot, faults)
    await deliver_files(sessionmaker, d, tmp_path, provider="sim", layout="generic")
    first = await reconcile(sessionmaker, d)
    assert first["discrepancies"] == expected_counts(faults)
    assert first["healed"]["mark_paid"] == 1
    assert first["healed"]["book_duplicate"] == 1 and first["healed"]["refund_executed"] == 1
    # the lost notification's session is paid now, its debt cleared, and it has its e-invoice
    lost = next(s for s in d.sales if not s.notified)
    async with sessionmaker() as db:
        sess = await db.get(ParkingSession, lost.session_id)
        debt = (await db.execute(select(Debt).where(Debt.session_id == lost.session_id))).scalar_one()
        assert sess is not None and sess.payment_status == "paid" and debt.status == "paid"
        rep = await verify_day(db, d.day)
        assert rep.missing_invoice == [] and rep.extra_invoices == [] and rep.amount_mismatch == []
        proposal = (await db.execute(select(RefundProposal).where(RefundProposal.business_date == d.day))).scalar_one()
        assert proposal.status == "executed" and proposal.refund_id is not None
        evidence = (
            await db.execute(
                select(Discrepancy).where(Discrepancy.business_date == d.day, Discrepancy.code == "duplicate_credit")
            )
        ).scalar_one()
        assert evidence.evidence["line"]["raw"] and evidence.session_id is not None and evidence.action_vi
        audits = (
            await db.execute(
                text(
                    "SELECT count(*) FROM audit_log WHERE actor = 'system:reconciliation' "
                    "AND data->>'business_date' = :d"
                ),
                {"d": d.day.isoformat()},
            )
        ).scalar()
        assert audits == sum(first["healed"].values())
    # re-running gives the identical result and heals nothing twice
    second = await reconcile(sessionmaker, d)
    assert second == first
    # re-importing the same files changes nothing either
    await deliver_files(sessionmaker, d, tmp_path, provider="sim", layout="generic")
    assert await reconcile(sessionmaker, d) == first


async def test_late_credit_is_carried_over_and_resolved_the_next_day(
    sessionmaker: async_sessionmaker[AsyncSession], recon_lot: LotHandle, tmp_path: Path
) -> None:
    d = await build(sessionmaker, recon_lot, ["after_midnight", "transfer_late"])
    await deliver_files(sessionmaker, d, tmp_path, provider="sim", next_day=True)
    first = await reconcile(sessionmaker, d)
    assert first["discrepancies"]["late_settlement"] == 1
    async with transaction(sessionmaker) as db:
        nxt = await run_day(db, d.day + timedelta(days=1), settings=SETTINGS)
    assert nxt is not None
    # the late credit matched its payment; the intermediary's transfer line is recognised: nothing flagged
    assert nxt["discrepancies"] == dict.fromkeys(CLASS_CODES, 0), nxt


async def test_invoice_catch_up_leaves_invoices_verify_clean(
    sessionmaker: async_sessionmaker[AsyncSession], recon_lot: LotHandle, tmp_path: Path
) -> None:
    from parking.payments import settings as pay_settings

    d = Day(fresh_day(), recon_lot)
    await add_sale(sessionmaker, d, d.local(9), 25_000)
    previous = pay_settings._override
    pay_settings.use_payment_settings(pay_settings.get_payment_settings().model_copy(update={"issue_invoices": False}))
    try:  # two sales confirmed while the invoice hook was off: paid, but no e-invoice
        await add_sale(sessionmaker, d, d.local(10), 30_000)
        await add_sale(sessionmaker, d, d.local(11), 40_000, channel="charge")
    finally:
        pay_settings.use_payment_settings(previous)
    async with sessionmaker() as db:
        before = await verify_day(db, d.day)
    assert len(before.missing_invoice) == 2
    await deliver_files(sessionmaker, d, tmp_path, provider="sim")
    s = await reconcile(sessionmaker, d)
    assert s["healed"]["issue_invoice"] == 2
    assert s["discrepancies"] == dict.fromkeys(CLASS_CODES, 0)
    async with sessionmaker() as db:
        after = await verify_day(db, d.day)
    assert after.missing_invoice == [] and after.extra_invoices == [] and after.amount_mismatch == []
    assert await reconcile(sessionmaker, d) == s  # and a re-run issues nothing twice
