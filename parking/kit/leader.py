"""Single-leader background work across instances: a PostgreSQL session advisory lock on a dedicated connection.

The instance holding the lock runs the scheduler and the outbox worker; the others wait and take over when the
leader's connection goes away (crash, kill, network loss: PostgreSQL releases session locks with the session).
Hand-written because it is a dozen lines over PostgreSQL's own primitive; a coordination service (etcd,
ZooKeeper) would add a moving part the platform does not otherwise need.
"""

from __future__ import annotations

import asyncio

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = structlog.get_logger("parking.leader")

# pg_advisory_lock key space is shared by the database: a fixed, documented key for the jobs leader.
JOBS_LEADER_KEY = 0x7061726B696E67  # "parking"


async def try_lead(conn: AsyncConnection, key: int = JOBS_LEADER_KEY) -> bool:
    return bool((await conn.execute(select(func.pg_try_advisory_lock(key)))).scalar())


async def wait_for_leadership(
    engine: AsyncEngine, stop: asyncio.Event, key: int = JOBS_LEADER_KEY, poll_s: float = 5.0
) -> AsyncConnection | None:
    """Block until this instance leads (returns the connection that holds the lock; keep it open) or `stop`."""
    conn = await engine.connect()
    await conn.commit()  # autobegin aside, the session lock outlives transactions
    while not stop.is_set():
        if await try_lead(conn, key):
            await conn.commit()
            log.info("leader.acquired", key=key)
            return conn
        await conn.commit()
        try:
            await asyncio.wait_for(stop.wait(), poll_s)
        except TimeoutError:
            pass
    await conn.close()
    return None


async def release(conn: AsyncConnection, key: int = JOBS_LEADER_KEY) -> None:
    """Step down (shutdown): unlock, then close. A pooled connection outlives close(), and so would the lock."""
    try:
        await conn.execute(select(func.pg_advisory_unlock(key)))
        await conn.commit()
    finally:
        await conn.close()
