"""Heartbeats and lane status, live occupancy (JSON and server-sent events), drift repair, metrics."""

from __future__ import annotations

import asyncio
import json

import httpx
from redis.asyncio import Redis
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.models import LotCapacity
from parking.occupancy.service import lot_snapshot, repair
from tests.conftest import LiveServer
from tests.factories import LotHandle, event, make_staff


async def test_heartbeat_marks_the_lane_online(
    client: httpx.AsyncClient, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    staff = await make_staff(sessionmaker, lot.operator_id, "operator")
    lanes = (await client.get("/v1/lanes", headers=staff.headers)).json()["lanes"]
    mine = next(x for x in lanes if x["id"] == str(lot.entry.id))
    assert mine["online"] is False
    r = await client.post(
        "/v1/gate/heartbeat", json={"fps": 2.0, "queue_depth": 3, "camera_ok": True}, headers=lot.entry.headers
    )
    assert r.status_code == 200 and r.json()["lane"]["code"] == "E1"
    lanes = (await client.get("/v1/lanes", headers=staff.headers)).json()["lanes"]
    mine = next(x for x in lanes if x["id"] == str(lot.entry.id))
    assert mine["online"] is True and mine["heartbeat"]["queue_depth"] == 3


async def test_occupancy_stream_sends_a_snapshot_then_changes(client: httpx.AsyncClient, lot: LotHandle) -> None:
    received: list[tuple[str, dict]] = []

    async def listen() -> None:
        async with client.stream("GET", "/v1/occupancy/stream") as r:
            name = ""
            async for line in r.aiter_lines():
                if line.startswith("event:"):
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("data:"):
                    data = json.loads(line.split(":", 1)[1])
                    received.append((name, data))
                    if name == "occupancy" and data["lot_id"] == str(lot.id):
                        return

    task = asyncio.create_task(listen())
    for _ in range(100):
        if received:
            break
        await asyncio.sleep(0.05)
    assert received and received[0][0] == "snapshot"
    await client.post("/v1/gate/events", json=event("entry", "30A-246.80"), headers=lot.entry.headers)
    await asyncio.wait_for(task, 10)
    name, data = received[-1]
    assert name == "occupancy" and data == {"lot_id": str(lot.id), "vehicle_class": "car_small", "occupied": 1}


async def test_repair_corrects_drift_in_redis_and_postgres(
    client: httpx.AsyncClient, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession], redis_url: str
) -> None:
    await client.post("/v1/gate/events", json=event("entry", "30A-135.79"), headers=lot.entry.headers)
    redis = Redis.from_url(redis_url, decode_responses=True)
    await redis.hset(f"occ:{lot.id}", "car_small", 42)  # drift in the mirror
    async with sessionmaker() as db:
        await db.execute(
            update(LotCapacity)
            .where(LotCapacity.lot_id == lot.id, LotCapacity.vehicle_class == "car_small")
            .values(occupied=4)
        )  # and in the counter
        await db.commit()
    async with sessionmaker() as db:
        fixes = await repair(db, redis)
        await db.commit()
    assert fixes >= 2
    async with sessionmaker() as db:
        [snap] = await lot_snapshot(db, redis, lot.id)
    assert snap["classes"]["car_small"]["occupied"] == 1
    assert await redis.hget(f"occ:{lot.id}", "car_small") == "1"
    await redis.aclose()


async def test_metrics_expose_latency_events_and_open_sessions(
    client: httpx.AsyncClient, lot: LotHandle, live_server: LiveServer
) -> None:
    await client.post("/v1/gate/events", json=event("entry", "30A-864.20"), headers=lot.entry.headers)
    assert (await client.get("/metrics")).status_code == 401
    assert (await client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 401
    token = live_server.app.state.staff_secrets.metrics_token
    text = (await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})).text
    assert "parking_http_request_seconds_bucket" in text
    assert 'parking_gate_events_total{action="open",kind="entry",replayed="false"}' in text
    assert "parking_open_sessions" in text


async def test_offline_cache_reports_lot_state(client: httpx.AsyncClient, lot: LotHandle) -> None:
    r = await client.get("/v1/gate/cache", headers=lot.exit.headers)
    body = r.json()
    assert r.status_code == 200 and body["lot"]["full"] == {"car_large": False, "car_small": False}
    assert isinstance(body["passes"], list) and isinstance(body["linked_plates"], list)
