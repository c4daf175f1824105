"""Lanes and their online status (``/v1/lanes``)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter

from parking.kit import redis_keys
from parking.kit.deps import DB, State
from parking.lanes import repository as repo
from parking.staff.deps import AnyStaff

router = APIRouter(tags=["lanes"])


@router.get("/v1/lanes", summary="Lanes of the staff member's lots with their online status (from heartbeats)")
async def lanes(db: DB, state: State, staff: AnyStaff) -> dict[str, Any]:
    out = []
    for lane, lot_code in await repo.with_lot_code(db, staff.lot_ids):
        hb = await state.redis.get(redis_keys.lane_heartbeat(lane.id))
        out.append(
            {
                "id": str(lane.id),
                "lot": lot_code,
                "code": lane.code,
                "direction": lane.direction,
                "vehicle_class": lane.vehicle_class,
                "online": hb is not None,
                "last_seen_at": lane.last_seen_at.isoformat() if lane.last_seen_at else None,
                "heartbeat": orjson.loads(hb) if hb else lane.last_heartbeat,
            }
        )
    return {"lanes": out, "online": sum(1 for lane in out if lane["online"])}
