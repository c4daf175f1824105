"""Lots, lanes and live occupancy (``/v1/lots``, ``/v1/occupancy``)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request
from sqlalchemy import select
from sse_starlette.sse import EventSourceResponse

from parking.kit.deps import DB, State
from parking.kit.errors import AppError
from parking.models import Lane, Lot
from parking.occupancy.service import STREAM_CHANNEL, lot_snapshot
from parking.staff.deps import AnyStaff

router = APIRouter(tags=["lots"])


@router.get("/v1/lots", summary="All lots with address, coordinates, tariff and live occupancy")
async def list_lots(db: DB, state: State) -> dict[str, Any]:
    lots = (await db.execute(select(Lot).order_by(Lot.code))).scalars().all()
    occ = {o["lot_id"]: o for o in await lot_snapshot(db, state.redis)}
    return {
        "lots": [
            {
                "id": str(lot.id),
                "code": lot.code,
                "name": lot.name,
                "address": lot.address,
                "latitude": float(lot.latitude),
                "longitude": float(lot.longitude),
                "tariff_id": lot.tariff_id,
                "tariff_zone": lot.tariff_zone,
                "occupancy": occ.get(str(lot.id), {}).get("classes", {}),
            }
            for lot in lots
        ]
    }


@router.get("/v1/lots/{lot_id}/occupancy")
async def lot_occupancy(lot_id: uuid.UUID, db: DB, state: State) -> dict[str, Any]:
    snap = await lot_snapshot(db, state.redis, lot_id)
    if not snap:
        raise AppError("lot_not_found", f"No lot {lot_id}.", 404)
    return {**snap[0], "at": datetime.now(UTC).isoformat()}


@router.get("/v1/occupancy", summary="Occupancy of every lot, per vehicle class")
async def occupancy(db: DB, state: State) -> dict[str, Any]:
    return {"lots": await lot_snapshot(db, state.redis), "at": datetime.now(UTC).isoformat()}


@router.get("/v1/occupancy/stream", summary="Server-sent events: a snapshot, then every change")
async def occupancy_stream(request: Request, db: DB, state: State) -> EventSourceResponse:
    snapshot = await lot_snapshot(db, state.redis)
    await db.rollback()

    async def stream() -> AsyncIterator[dict[str, str]]:
        pubsub = state.redis.pubsub()
        await pubsub.subscribe(STREAM_CHANNEL)
        try:
            yield {"event": "snapshot", "data": orjson.dumps({"lots": snapshot}).decode()}
            while not await request.is_disconnected():
                msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if msg is not None:
                    yield {"event": "occupancy", "data": str(msg["data"])}
                else:
                    await asyncio.sleep(0)
        finally:
            await pubsub.unsubscribe()
            await pubsub.aclose()

    return EventSourceResponse(stream(), ping=15)


@router.get("/v1/lanes", summary="Lanes of the staff member's lots with their online status (from heartbeats)")
async def lanes(db: DB, state: State, staff: AnyStaff) -> dict[str, Any]:
    rows = (
        await db.execute(
            select(Lane, Lot.code)
            .join(Lot, Lot.id == Lane.lot_id)
            .where(Lot.id.in_(staff.lot_ids))
            .order_by(Lot.code, Lane.code)
        )
    ).all()
    out = []
    for lane, lot_code in rows:
        hb = await state.redis.get(f"lane:{lane.id}:hb")
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
