"""Runs by itself, exactly once: two schedulers racing, missed nights caught up at start, a run killed
half-way (kill -9) leaves no trace and the re-run gives the result of an untouched run."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from datetime import datetime, time, timedelta
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.kit.db import make_engine, make_sessionmaker, transaction
from parking.models import Discrepancy, HealingStep, ReconMatch, ReconRun
from parking.settings import REPO_ROOT, Settings
from reconciliation.rules import VN_TZ
from reconciliation.scheduler import due_day, nightly
from reconciliation.service import LOCK_KEY, run_day, try_lock
from reconciliation.settings import ReconSettings
from tests.factories import LotHandle
from tests.reconciliation.daybuilder import Day, add_sale, deliver_files, fresh_day

SETTINGS = ReconSettings(run_at="02:30", catch_up_days=3)


def at_local(day: object, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), VN_TZ)  # type: ignore[arg-type]


def test_due_day_is_the_previous_business_day_after_the_run_time() -> None:
    d = fresh_day()
    assert due_day(at_local(d, 2, 29), SETTINGS) == d - timedelta(days=2)
    assert due_day(at_local(d, 2, 30), SETTINGS) == d - timedelta(days=1)


async def _day_with_files(sm: async_sessionmaker[AsyncSession], lot: LotHandle, tmp: Path) -> Day:
    d = Day(fresh_day(), lot)
    await add_sale(sm, d, d.local(9), 25_000)
    lost = await add_sale(sm, d, d.local(10), 15_000, notified=False)
    assert lost.reference
    await deliver_files(sm, d, tmp, provider="sim")
    return d


async def test_two_schedulers_racing_run_the_day_once(
    sessionmaker: async_sessionmaker[AsyncSession], recon_lot: LotHandle, tmp_path: Path, db_url: str
) -> None:
    d = await _day_with_files(sessionmaker, recon_lot, tmp_path)
    now = at_local(d.day + timedelta(days=1), 2, 31)
    engines = [make_engine(db_url, 2) for _ in range(2)]
    try:
        results = await asyncio.gather(*(nightly(make_sessionmaker(e), now=now, settings=SETTINGS) for e in engines))
    finally:
        for e in engines:
            await e.dispose()
    assert sorted(len(r) for r in results) == [0, 1]  # one instance ran it; the other skipped (lock or done)
    async with sessionmaker() as db:
        run = (await db.execute(select(ReconRun).where(ReconRun.business_date == d.day))).scalar_one()
        heals = (
            await db.execute(select(func.count()).select_from(HealingStep).where(HealingStep.business_date == d.day))
        ).scalar()
    assert run.runs == 1 and run.trigger == "schedule"
    assert heals == 1  # the lost notification healed once
    # a later tick finds the day done and does nothing
    assert await nightly(sessionmaker, now=now + timedelta(hours=1), settings=SETTINGS) == []


async def test_missed_nights_are_caught_up_oldest_first(
    sessionmaker: async_sessionmaker[AsyncSession], recon_lot: LotHandle, tmp_path: Path
) -> None:
    first = await _day_with_files(sessionmaker, recon_lot, tmp_path / "a")
    # the next fresh day is 3 days later: the platform was down for those nights
    second = await _day_with_files(sessionmaker, recon_lot, tmp_path / "b")
    assert second.day - first.day == timedelta(days=3)
    now = at_local(second.day + timedelta(days=1), 8, 0)
    done = await nightly(sessionmaker, trigger="catch_up", now=now, settings=SETTINGS)
    assert done == [first.day, second.day]  # days without any bank file are left alone
    assert await nightly(sessionmaker, trigger="catch_up", now=now, settings=SETTINGS) == []


KILLED_RUN = textwrap.dedent(
    """
    import asyncio, sys, time
    from datetime import date
    from parking.kit.db import make_engine, make_sessionmaker, transaction
    from reconciliation.service import LOCK_KEY, run_day, try_lock

    async def main() -> None:
        sm = make_sessionmaker(make_engine(sys.argv[1], 2))

        def step(name: str) -> None:
            if name == "summarise":  # matched, classified and healed: now die before the commit
                print("HALF", flush=True)
                time.sleep(600)

        async with transaction(sm) as db:
            await run_day(db, date.fromisoformat(sys.argv[2]), progress=step)

    asyncio.run(main())
    """
)


async def test_a_run_killed_half_way_leaves_no_trace(
    sessionmaker: async_sessionmaker[AsyncSession], recon_lot: LotHandle, tmp_path: Path, settings: Settings
) -> None:
    d = await _day_with_files(sessionmaker, recon_lot, tmp_path)
    env = os.environ | {"PYTHONPATH": str(REPO_ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        KILLED_RUN,
        str(settings.database_url),
        d.day.isoformat(),
        stdout=asyncio.subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 120)
        assert line.strip() == b"HALF"
        async with sessionmaker() as db:  # mid-run: another instance cannot take the lock
            assert await try_lock(db) is False
            await db.rollback()
    finally:
        proc.send_signal(signal.SIGKILL)  # kill -9: no cleanup code runs in the run's process
        await proc.wait()
    for _ in range(100):  # the server notices the dead client and rolls its transaction back
        async with sessionmaker() as db:
            busy = (
                await db.execute(
                    text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = :k"),
                    {"k": LOCK_KEY & 0xFFFFFFFF},
                )
            ).scalar()
        if not busy:
            break
        await asyncio.sleep(0.1)
    async with sessionmaker() as db:
        for model in (ReconRun, ReconMatch, Discrepancy, HealingStep):
            col = model.business_date
            n = (await db.execute(select(func.count()).select_from(model).where(col == d.day))).scalar()
            assert n == 0, model.__name__
        paid = (
            await db.execute(text("SELECT count(*) FROM payments WHERE raw->>'business_date' = :d"), {"d": str(d.day)})
        ).scalar()
        assert paid == 0  # the healing payment went with the broken run
    async with transaction(sessionmaker) as db:
        out = await run_day(db, d.day, settings=SETTINGS)
    assert out is not None
    assert out["discrepancies"]["status_mismatch"] == 1 and out["healed"]["mark_paid"] == 1
