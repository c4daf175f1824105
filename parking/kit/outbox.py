"""Transactional outbox.

A side effect is enqueued as a row in the same transaction as the state change that causes it, so a crash
between our commit and the external call loses nothing; the worker delivers each message at least once,
and handlers make that exactly-once in effect with idempotency keys at the provider (charges, invoices).

Handlers are registered per topic:

    @outbox.handler("payment.charge")
    async def charge(db: AsyncSession, payload: dict, ctx: OutboxContext) -> None: ...

Each message is processed in its own transaction holding a ``FOR UPDATE SKIP LOCKED`` lock on its row, so
several workers (or API instances) can run side by side without delivering one message twice at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from redis.asyncio import Redis
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.kit.metrics import OUTBOX_PROCESSED
from parking.models import OutboxMessage

log = structlog.get_logger("parking.outbox")

MAX_ATTEMPTS = 12


@dataclass
class OutboxContext:
    sessionmaker: async_sessionmaker[AsyncSession]
    redis: Redis | None
    extras: dict[str, Any] = field(default_factory=dict)
    exclude_topics: tuple[str, ...] = ()  # left to another worker


class Deferred(Exception):
    """Raised by a handler whose precondition is not met yet (e.g. a certificate not installed).

    The message waits ``delay_s`` and is tried again, indefinitely: it is not a failure, so it neither
    counts towards ``MAX_ATTEMPTS`` nor ever becomes dead. The handler records why (an alert) itself.
    """

    def __init__(self, delay_s: float, reason: str) -> None:
        super().__init__(reason)
        self.delay_s = delay_s


Handler = Callable[[AsyncSession, dict[str, Any], OutboxContext], Awaitable[None]]
_HANDLERS: dict[str, Handler] = {}


def handler(topic: str) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        _HANDLERS[topic] = fn
        return fn

    return deco


def registered_topics() -> list[str]:
    return sorted(_HANDLERS)


async def enqueue(db: AsyncSession, topic: str, payload: dict[str, Any], key: str, delay_s: float = 0.0) -> None:
    """Add a message in the caller's transaction. The same key twice is a no-op (idempotent enqueue)."""
    values: dict[str, Any] = {"topic": topic, "payload": payload, "key": key}
    if delay_s:
        values["available_at"] = datetime.now(UTC) + timedelta(seconds=delay_s)
    await db.execute(insert(OutboxMessage).values(**values).on_conflict_do_nothing(index_elements=["key"]))


def backoff_s(attempts: int) -> float:
    return float(min(300, 2 ** min(attempts, 9)) / 4)


async def _deliver(db: AsyncSession, row: OutboxMessage, ctx: OutboxContext) -> None:
    """Run the handler of one locked message in a savepoint; mark it done, or reschedule it with backoff."""
    fn = _HANDLERS.get(row.topic)
    try:
        if fn is None:
            raise LookupError(f"no handler registered for topic {row.topic!r}")
        async with db.begin_nested():
            await fn(db, dict(row.payload), ctx)
        row.processed_at = datetime.now(UTC)
        row.dead = False  # an operator's retry of a dead message that now succeeded
        row.attempts += 1
        OUTBOX_PROCESSED.labels(row.topic, "ok").inc()
    except Deferred as wait:
        row.last_error = f"waiting: {wait}"[:2000]
        row.available_at = datetime.now(UTC) + timedelta(seconds=wait.delay_s)
        OUTBOX_PROCESSED.labels(row.topic, "deferred").inc()
        log.info("outbox.deferred", topic=row.topic, key=row.key, reason=str(wait), retry_in_s=wait.delay_s)
    except Exception as exc:  # a failed side effect is retried later, never dropped
        row.attempts += 1
        row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        row.available_at = datetime.now(UTC) + timedelta(seconds=backoff_s(row.attempts))
        row.dead = row.attempts >= MAX_ATTEMPTS
        OUTBOX_PROCESSED.labels(row.topic, "dead" if row.dead else "retry").inc()
        log.warning("outbox.retry", topic=row.topic, key=row.key, attempts=row.attempts, error=row.last_error)


async def process_key(ctx: OutboxContext, key: str) -> bool:
    """Deliver one named message now, whatever its schedule (an operator's "retry now").

    It takes the same row lock as the workers, so a message a worker is delivering is waited for, and one
    already delivered is left alone. Returns whether this call delivered it.
    """
    async with ctx.sessionmaker() as db:
        row = (
            await db.execute(select(OutboxMessage).where(OutboxMessage.key == key).with_for_update())
        ).scalar_one_or_none()
        if row is None or row.processed_at is not None:
            await db.rollback()
            return False
        await _deliver(db, row, ctx)
        await db.commit()
        return row.processed_at is not None


async def process_batch(ctx: OutboxContext, limit: int = 20) -> int:
    """Deliver up to ``limit`` due messages; return how many were attempted."""
    done = 0
    for _ in range(limit):
        async with ctx.sessionmaker() as db:
            row = (
                await db.execute(
                    select(OutboxMessage)
                    .where(
                        OutboxMessage.processed_at.is_(None),
                        OutboxMessage.dead.is_(False),
                        OutboxMessage.available_at <= datetime.now(UTC),
                        OutboxMessage.topic.not_in(ctx.exclude_topics),
                    )
                    .order_by(OutboxMessage.available_at, OutboxMessage.id)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
            ).scalar_one_or_none()
            if row is None:
                await db.rollback()
                break
            await _deliver(db, row, ctx)
            await db.commit()
            done += 1
    return done


async def run_worker(ctx: OutboxContext, poll_s: float = 0.2, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    while not stop.is_set():
        try:
            n = await process_batch(ctx)
        except Exception as exc:  # keep the worker alive across DB hiccups
            log.error("outbox.worker_error", error=str(exc))
            n = 0
        if n == 0:
            try:
                await asyncio.wait_for(stop.wait(), timeout=poll_s)
            except TimeoutError:
                pass


async def pending_count(db: AsyncSession) -> int:
    from sqlalchemy import func

    return int(
        (
            await db.execute(
                select(func.count()).where(OutboxMessage.processed_at.is_(None), OutboxMessage.dead.is_(False))
            )
        ).scalar_one()
    )


async def mark_all_due(db: AsyncSession) -> None:
    """Tests and operators: make every waiting message due now (skips backoff)."""
    await db.execute(
        update(OutboxMessage).where(OutboxMessage.processed_at.is_(None)).values(available_at=datetime.now(UTC))
    )
