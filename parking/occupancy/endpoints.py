"""Live occupancy (``/v1/occupancy``, ``/v1/lots/{id}/occupancy``): the counters and their stream."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request
from sse_starlette.sse import EventSourceResponse

from parking.kit import redis_keys, sse
from parking.kit.deps import DB, State
from parking.kit.errors import AppError
from parking.occupancy.service import lot_snapshot

router = APIRouter(tags=["occupancy"])


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

    first = ("snapshot", orjson.dumps({"lots": snapshot}).decode())
    return sse.relay(request, state.redis, [redis_keys.OCCUPANCY_CHANNEL], event="occupancy", first=first)
