"""Issue 13.1 (server side): after-commit effects never turn a committed gate decision into an error.

The API runs against its own Redis, which the test stops: the event must still be committed and answered 200
(the mirror and the live stream degrade), and the repair job brings Redis back in line when it returns.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.kit.embedded import EmbeddedRedis, free_port
from parking.models import GateEvent, ParkingSession
from parking.occupancy.service import repair
from parking.settings import Settings
from tests.conftest import LiveServer
from tests.factories import LotHandle, event


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    rd = EmbeddedRedis(tmp_path / "redis")
    rd.start()
    yield rd
    rd.stop()


@pytest.fixture
def server_on_own_redis(settings: Settings, own_redis: EmbeddedRedis) -> Iterator[LiveServer]:
    port = free_port()
    srv = LiveServer(
        settings.model_copy(
            update={"redis_url": own_redis.url, "port": port, "public_base_url": f"http://127.0.0.1:{port}"}
        )
    )
    srv.start()
    yield srv
    srv.stop()


async def test_gate_event_commits_and_answers_200_while_redis_is_down(
    server_on_own_redis: LiveServer,
    own_redis: EmbeddedRedis,
    lot: LotHandle,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    now = datetime.now(UTC)
    async with httpx.AsyncClient(base_url=server_on_own_redis.url, timeout=30) as c:
        first = event("entry", "30K-111.22", at=now - timedelta(minutes=30))
        r = await c.post("/v1/gate/events", json=first, headers=lot.entry.headers)
        assert r.status_code == 200 and r.json()["action"] == "open"

        own_redis.stop()
        second = event("entry", "30K-333.44", at=now - timedelta(minutes=1))
        r = await c.post("/v1/gate/events", json=second, headers=lot.entry.headers)
        assert r.status_code == 200, r.text
        assert r.json()["action"] == "open" and r.json()["session_id"]
        leaving = event("exit", "30K-111.22", at=now)
        r = await c.post("/v1/gate/events", json=leaving, headers=lot.exit.headers)
        assert r.status_code == 200, r.text
        # The lane's heartbeat is stored in PostgreSQL; its Redis copy is an after-commit effect too.
        hb = await c.post(
            "/v1/gate/heartbeat",
            json={"agent_version": "test", "queue_depth": 0},
            headers=lot.entry.headers,
        )
        assert hb.status_code == 200, hb.text

    async with sessionmaker() as db:
        stored = {
            e.id: e
            for e in (
                await db.execute(
                    select(GateEvent).where(
                        GateEvent.id.in_([uuid.UUID(second["event_id"]), uuid.UUID(leaving["event_id"])])
                    )
                )
            ).scalars()
        }
        assert len(stored) == 2 and all(e.decision is not None for e in stored.values())
        open_plates = set(
            (
                await db.execute(
                    select(ParkingSession.plate).where(ParkingSession.lot_id == lot.id, ParkingSession.status == "open")
                )
            ).scalars()
        )
        assert open_plates == {"30K33344"}

    # Redis comes back empty (no persistence): the repair job rebuilds the mirror from PostgreSQL.
    own_redis.start()
    redis = Redis.from_url(own_redis.url, decode_responses=True)
    try:
        async with sessionmaker() as db:
            await repair(db, redis)
            await db.commit()
        assert int(await redis.hget(f"occ:{lot.id}", "car_small") or -1) == 1
    finally:
        await redis.aclose()
