"""A reconciled business day for the finance console's tests (HTTP and browser), built with the reconciliation
tests' day builder: real sessions, payments, bank statement and settlement files, and the nightly run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.kit.db import transaction
from reconciliation.service import run_day
from reconciliation.settings import ReconSettings
from tests.factories import LotHandle
from tests.reconciliation.daybuilder import Day, add_exit_without_session, add_sale, deliver_files, fresh_day

# Duplicate credits above this wait for finance (the demo's limit is higher; these tests want proposals).
SETTINGS = ReconSettings(auto_refund_limit_vnd=1_000)


async def build_day(sm: async_sessionmaker[AsyncSession], lot: LotHandle, tmp: Path) -> Day:
    """Two clean sales, two duplicate credits (awaiting finance), an under-payment, a static-QR credit for nobody
    and a car out through the lane with no session: one of most classes, in the real database and bank files."""
    d = Day(fresh_day(), lot)
    await add_sale(sm, d, d.local(7, 5), 25_000)
    await add_sale(sm, d, d.local(7, 25), 30_000)
    for k, fault in enumerate(("duplicate_credit", "duplicate_credit", "underpaid")):
        sale = await add_sale(sm, d, d.local(9, 10 * k), 21_000 + 1_000 * k)
        d.faults.per_txn[sale.txn_id] = fault
    d.faults.static_qr.append((12_000, d.local(15, 7)))
    await add_exit_without_session(sm, d, d.local(16, 0))
    await deliver_files(sm, d, tmp, provider="sim")
    await reconcile(sm, d)
    return d


async def reconcile(sm: async_sessionmaker[AsyncSession], d: Day) -> dict[str, Any]:
    async with transaction(sm) as db:
        out = await run_day(db, d.day, settings=SETTINGS, trigger="test")
    assert out is not None
    return out
