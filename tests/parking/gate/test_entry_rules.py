"""Entry rules that the one-round-trip entry (``gate_entry()``, migration 0050) must keep: the capacity guard,
a lane that opened offline counted above capacity, an unreadable plate, the refused full lot."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.models import AuditLog, LotCapacity, ParkingSession
from tests.factories import event, make_lot, random_car_plate


async def _occupied(sm: async_sessionmaker[AsyncSession], lot_id: object, vclass: str = "car_large") -> int:
    async with sm() as db:
        return int(
            (
                await db.execute(
                    select(LotCapacity.occupied).where(
                        LotCapacity.lot_id == lot_id, LotCapacity.vehicle_class == vclass
                    )
                )
            ).scalar_one()
        )


async def test_full_lot_refuses_online_and_counts_an_offline_opening_above_capacity(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    lot = await make_lot(sessionmaker, capacities={"car_small": 1, "car_large": 1})
    first, second, third = random_car_plate(), random_car_plate(), random_car_plate()
    r = (await client.post("/v1/gate/events", json=event("entry", first), headers=lot.entry.headers)).json()
    assert r["action"] == "open" and r["flags"] == []
    r = (await client.post("/v1/gate/events", json=event("entry", second), headers=lot.entry.headers)).json()
    assert r["action"] == "refuse" and r["flags"] == ["lot_full"] and r["session_id"] is None
    r = (
        await client.post(
            "/v1/gate/events", json=event("entry", third, offline_action="opened"), headers=lot.entry.headers
        )
    ).json()
    assert r["action"] == "open" and r["flags"] == ["over_capacity", "opened_offline"]
    assert await _occupied(sessionmaker, lot.id, "car_small") == 2
    async with sessionmaker() as db:
        rows = (await db.execute(select(ParkingSession).where(ParkingSession.lot_id == lot.id))).scalars().all()
        assert sorted(s.status for s in rows) == ["open", "open"]
        audit = (
            (
                await db.execute(
                    select(AuditLog).where(
                        AuditLog.entity_id.in_([str(s.id) for s in rows]), AuditLog.action == "session.open"
                    )
                )
            )
            .scalars()
            .all()
        )
        assert len(audit) == 2 and all(a.actor == f"lane:{lot.entry.code}" for a in audit)


async def test_unreadable_plate_waits_for_the_attendant_online_and_is_flagged_offline(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    lot = await make_lot(sessionmaker, capacities={"car_small": 3, "car_large": 1})
    r = (await client.post("/v1/gate/events", json=event("entry", None), headers=lot.entry.headers)).json()
    assert r["action"] == "attendant" and r["flags"] == ["plate_unreadable"] and r["session_id"] is None
    r = (
        await client.post(
            "/v1/gate/events", json=event("entry", None, offline_action="opened"), headers=lot.entry.headers
        )
    ).json()
    assert r["action"] == "open" and r["flags"] == ["plate_unreadable", "opened_offline"]
    async with sessionmaker() as db:
        [s] = (await db.execute(select(ParkingSession).where(ParkingSession.lot_id == lot.id))).scalars().all()
        assert s.plate is None and s.review_status == "pending" and s.status == "open"
    assert await _occupied(sessionmaker, lot.id, "car_small") == 1
