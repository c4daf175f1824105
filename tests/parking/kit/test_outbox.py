"""The transactional outbox: idempotent enqueue, commit-or-nothing, retries with backoff, topic routing."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.kit import outbox
from parking.models import OutboxMessage

CALLS: list[tuple[str, dict[str, Any]]] = []
FAIL_FIRST: set[str] = set()


@outbox.handler("test.ok")
async def _ok(db: AsyncSession, payload: dict[str, Any], ctx: outbox.OutboxContext) -> None:
    CALLS.append(("test.ok", payload))


@outbox.handler("test.flaky")
async def _flaky(db: AsyncSession, payload: dict[str, Any], ctx: outbox.OutboxContext) -> None:
    CALLS.append(("test.flaky", payload))
    if payload["id"] in FAIL_FIRST:
        FAIL_FIRST.discard(payload["id"])
        raise ConnectionError("provider unreachable")


async def _row(sm: async_sessionmaker[AsyncSession], key: str) -> OutboxMessage:
    async with sm() as db:
        return (await db.execute(select(OutboxMessage).where(OutboxMessage.key == key))).scalar_one()


async def _drain(sm: async_sessionmaker[AsyncSession], keys: list[str], exclude: tuple[str, ...] = ()) -> None:
    """Process only this test's messages (other tests' rows may be pending in the shared database)."""
    ctx = outbox.OutboxContext(sm, None, exclude_topics=exclude)
    async with sm() as db:
        # Park every other pending message far in the future for the duration of this call.
        await db.execute(
            update(OutboxMessage)
            .where(OutboxMessage.processed_at.is_(None), OutboxMessage.key.not_in(keys))
            .values(available_at=OutboxMessage.available_at + timedelta(days=3650))
        )
        await db.commit()
    try:
        await outbox.process_batch(ctx, limit=50)
    finally:
        async with sm() as db:
            await db.execute(
                update(OutboxMessage)
                .where(OutboxMessage.processed_at.is_(None), OutboxMessage.key.not_in(keys))
                .values(available_at=OutboxMessage.available_at - timedelta(days=3650))
            )
            await db.commit()


async def test_enqueue_is_idempotent_and_rolls_back_with_its_transaction(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    key = f"t-{uuid.uuid4()}"
    async with sessionmaker() as db:
        await outbox.enqueue(db, "test.ok", {"n": 1}, key)
        await outbox.enqueue(db, "test.ok", {"n": 2}, key)  # the same key again: no second message
        await db.rollback()  # the state change failed: its side effect never existed
    async with sessionmaker() as db:
        assert (await db.execute(select(OutboxMessage).where(OutboxMessage.key == key))).first() is None
        await outbox.enqueue(db, "test.ok", {"n": 1}, key)
        await outbox.enqueue(db, "test.ok", {"n": 2}, key)
        await db.commit()
    row = await _row(sessionmaker, key)
    assert row.payload == {"n": 1}


async def test_failed_side_effect_is_retried_later_not_dropped(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    mid = str(uuid.uuid4())
    key = f"t-{mid}"
    FAIL_FIRST.add(mid)
    async with sessionmaker() as db:
        await outbox.enqueue(db, "test.flaky", {"id": mid}, key)
        await db.commit()
    await _drain(sessionmaker, [key])
    row = await _row(sessionmaker, key)
    assert row.processed_at is None and row.attempts == 1 and "unreachable" in (row.last_error or "")
    assert row.available_at > row.created_at  # backed off
    async with sessionmaker() as db:
        await outbox.mark_all_due(db)
        await db.commit()
    await _drain(sessionmaker, [key])
    row = await _row(sessionmaker, key)
    assert row.processed_at is not None and row.attempts == 2
    assert [c for c in CALLS if c[1].get("id") == mid] == [("test.flaky", {"id": mid})] * 2


async def test_a_worker_leaves_excluded_topics_to_other_workers(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    k1, k2 = f"t-{uuid.uuid4()}", f"t-{uuid.uuid4()}"
    async with sessionmaker() as db:
        await outbox.enqueue(db, "test.ok", {"k": k1}, k1)
        await outbox.enqueue(db, "test.flaky", {"id": k2}, k2)
        await db.commit()
    await _drain(sessionmaker, [k1, k2], exclude=("test.flaky",))
    assert (await _row(sessionmaker, k1)).processed_at is not None
    assert (await _row(sessionmaker, k2)).processed_at is None
    await _drain(sessionmaker, [k1, k2])
    assert (await _row(sessionmaker, k2)).processed_at is not None


async def test_a_named_message_is_delivered_once_even_when_asked_twice(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    key = f"t-{uuid.uuid4()}"
    async with sessionmaker() as db:
        await outbox.enqueue(db, "test.ok", {"k": key}, key, delay_s=3600)  # not due: only an explicit call runs it
        await db.commit()
    ctx = outbox.OutboxContext(sessionmaker, None)
    assert await outbox.process_key(ctx, key) is True
    assert await outbox.process_key(ctx, key) is False  # already delivered: left alone
    assert [c for c in CALLS if c[1].get("k") == key] == [("test.ok", {"k": key})]
    assert (await _row(sessionmaker, key)).processed_at is not None
