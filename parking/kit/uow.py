"""The unit of work: one transaction per request (or job), committed at its end, then its after-commit effects.

Effects are registered on the session (``after_commit(db, name, effect)``) by endpoints or services that need
something outside PostgreSQL to follow a committed change: the Redis occupancy mirror, the live streams, a
lane's heartbeat copy. They run only after a successful commit, in registration order, and they NEVER turn a
committed decision into an error: a failure is logged and counted (``parking_after_commit_failures_total``),
and the periodic repair job brings the derived state back in line with PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from parking.kit.metrics import AFTER_COMMIT_FAILURES

log = structlog.get_logger("parking.uow")

Effect = Callable[[], Awaitable[object]]
_KEY = "parking.after_commit"


def after_commit(db: AsyncSession, name: str, effect: Effect) -> None:
    """Run ``effect()`` once this session's transaction has committed; dropped if it rolls back."""
    db.info.setdefault(_KEY, []).append((name, effect))


def discard_effects(db: AsyncSession) -> None:
    db.info.pop(_KEY, None)


async def run_effects(db: AsyncSession) -> None:
    effects: list[tuple[str, Effect]] = db.info.pop(_KEY, [])
    for name, effect in effects:
        try:
            await effect()
        except Exception as exc:  # a derived copy fell behind; the committed truth stands
            AFTER_COMMIT_FAILURES.labels(name).inc()
            log.warning("after_commit.failed", effect=name, error=f"{type(exc).__name__}: {exc}")


async def commit(db: AsyncSession, *, wait_for_flush: bool = True) -> None:
    """Commit, then run the effects registered in this transaction. A failing commit raises (nothing ran).

    ``wait_for_flush=False`` is for a checkpoint inside a request whose answer is sent only after a later,
    ordinary commit on the same connection: WAL is flushed in order, so that later commit makes this one durable
    too, and a crash before it loses both, with no answer given (the client retries with its idempotency key).
    It saves a WAL flush wait while the row locks are released all the same.
    """
    try:
        if not wait_for_flush and db.in_transaction():
            await db.execute(text("SET LOCAL synchronous_commit TO OFF"))
        await db.commit()
    except BaseException:
        discard_effects(db)
        raise
    await run_effects(db)


async def rollback(db: AsyncSession) -> None:
    discard_effects(db)
    if db.in_transaction():
        await db.rollback()
