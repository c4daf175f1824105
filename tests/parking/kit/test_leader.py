"""One jobs leader at a time across instances, and a standby takes over when the leader's session ends."""

from __future__ import annotations

import asyncio

from parking.kit.db import make_engine
from parking.kit.leader import release, try_lead, wait_for_leadership

KEY = 0x5445535431  # a test-only key, not the platform's


async def test_only_one_instance_leads_and_a_standby_takes_over(db_url: str) -> None:
    a, b = make_engine(db_url, 2), make_engine(db_url, 2)
    stop = asyncio.Event()
    try:
        leader = await wait_for_leadership(a, stop, key=KEY, poll_s=0.1)
        assert leader is not None
        async with b.connect() as other:
            assert not await try_lead(other, KEY)  # held by the leader's session
            await other.rollback()
        standby = asyncio.create_task(wait_for_leadership(b, stop, key=KEY, poll_s=0.1))
        await asyncio.sleep(0.3)
        assert not standby.done()
        await leader.invalidate()  # the leader's session dies (crash, network): PostgreSQL releases the lock
        new_leader = await asyncio.wait_for(standby, 10)
        assert new_leader is not None
        await release(new_leader, KEY)  # a graceful step-down frees the lock at once
        async with a.connect() as again:
            assert await try_lead(again, KEY)
            await release(again, KEY)
    finally:
        stop.set()
        await a.dispose()
        await b.dispose()


async def test_a_stopped_standby_gives_up_waiting(db_url: str) -> None:
    a, b = make_engine(db_url, 2), make_engine(db_url, 2)
    stop = asyncio.Event()
    try:
        leader = await wait_for_leadership(a, stop, key=KEY + 1, poll_s=0.1)
        assert leader is not None
        standby = asyncio.create_task(wait_for_leadership(b, stop, key=KEY + 1, poll_s=0.1))
        stop.set()
        assert await asyncio.wait_for(standby, 10) is None
        await release(leader, KEY + 1)
    finally:
        await a.dispose()
        await b.dispose()
