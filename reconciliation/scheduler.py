"""The nightly job: APScheduler in the platform, at a configured local time, for the previous business day.

Exactly once: the run takes a transaction-scoped PostgreSQL advisory lock (a second instance skips) and a
day that already has a run is skipped. A night missed while the platform was down is run at the next start.
A day is only run once its bank statement or a settlement report has been imported: without the bank's
side every payment would look missing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.kit.db import transaction
from reconciliation.rules import VN_TZ
from reconciliation.service import RunInProgress, run_day
from reconciliation.settings import ReconSettings, get_recon_settings

log = structlog.get_logger("reconciliation.scheduler")


def due_day(now: datetime, s: ReconSettings) -> date:
    """The latest business day whose reconciliation is due at `now`."""
    local = now.astimezone(VN_TZ)
    hh, mm = (int(x) for x in s.run_at.split(":"))
    return local.date() - timedelta(days=1 if (local.hour, local.minute) >= (hh, mm) else 2)


async def _has_inputs(db: AsyncSession, day: date) -> bool:
    return bool(
        (
            await db.execute(
                text(
                    "SELECT EXISTS (SELECT 1 FROM recon_statement_lines WHERE business_date = :d) "
                    "OR EXISTS (SELECT 1 FROM recon_settlement_batches WHERE settlement_date = :d)"
                ),
                {"d": day},
            )
        ).scalar()
    )


async def nightly(
    sm: async_sessionmaker[AsyncSession],
    *,
    trigger: str = "schedule",
    now: datetime | None = None,
    settings: ReconSettings | None = None,
) -> list[date]:
    """Run every due day (oldest first, up to `catch_up_days` back) that has inputs and no run yet."""
    s = settings or get_recon_settings()
    last = due_day(now or datetime.now(UTC), s)
    done: list[date] = []
    for k in range(s.catch_up_days, -1, -1):
        day = last - timedelta(days=k)
        try:
            async with transaction(sm) as db:
                if not await _has_inputs(db, day):
                    continue
                if await run_day(db, day, trigger=trigger, settings=s, skip_if_done=True) is not None:
                    done.append(day)
        except RunInProgress:
            log.info("reconciliation.skipped_locked", day=str(day))
            break
    if done:
        log.info("reconciliation.nightly", days=[str(d) for d in done], trigger=trigger)
    return done


def install(scheduler: AsyncIOScheduler, sm: async_sessionmaker[AsyncSession]) -> None:
    """Register the nightly job and the catch-up at start (called from the platform's lifespan)."""
    s = get_recon_settings()
    if not s.enabled:
        return
    hh, mm = (int(x) for x in s.run_at.split(":"))
    scheduler.add_job(
        nightly,
        "cron",
        hour=hh,
        minute=mm,
        timezone=VN_TZ,
        args=[sm],
        id="reconciliation-nightly",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=6 * 3600,
        replace_existing=True,
    )
    # Missed nights: once, shortly after start (not inline, so the API starts at once).
    scheduler.add_job(
        nightly,
        "date",
        run_date=datetime.now(UTC) + timedelta(seconds=5),
        args=[sm],
        kwargs={"trigger": "catch_up"},
        id="reconciliation-catch-up",
        replace_existing=True,
    )
