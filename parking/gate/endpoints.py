"""Gate API for lane agents (``/v1/gate``). Thin: authenticate, call the service, commit, apply effects."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Request
from sqlalchemy import select, update
from sse_starlette.sse import EventSourceResponse

from parking.gate import release, service
from parking.gate.schemas import GateDecision, GateEventIn, HeartbeatIn, HeartbeatOut, SessionStatus
from parking.invoices.service import receipt_url_for_session
from parking.kit.deps import DB, State
from parking.kit.errors import AppError
from parking.kit.metrics import GATE_EVENTS
from parking.lanes.auth import LaneInfo, authenticate
from parking.models import GateEvent, Lane, ParkingSession
from parking.occupancy.service import apply_deltas, lot_snapshot
from parking.payments import exit_hook

router = APIRouter(prefix="/v1/gate", tags=["gate"])
Auth = Annotated[str | None, Header(alias="Authorization")]


def _rules(state: State) -> service.GateRules:
    s = state.settings
    return service.GateRules(
        min_confidence=s.min_plate_confidence,
        max_future_skew_s=s.max_future_skew_s,
        max_event_age_days=s.max_event_age_days,
        max_image_bytes=s.max_image_bytes,
        public_base_url=s.public_base_url,
    )


async def _lane(db: DB, state: State, authorization: str | None) -> LaneInfo:
    return await authenticate(db, state.lanes, authorization)


@router.post("/events", response_model=GateDecision, summary="Post an entry or exit event (idempotent on event_id)")
async def post_event(ev: GateEventIn, db: DB, state: State, authorization: Auth = None) -> GateDecision:
    lane = await _lane(db, state, authorization)
    outcome = await service.handle_event(db, ev, lane, _rules(state), state.tariffs, datetime.now(UTC))
    await db.commit()
    if not outcome.replayed:
        await apply_deltas(state.redis, outcome.effects.occupancy)
        for channel, message in outcome.effects.publish:
            await state.redis.publish(channel, orjson.dumps(message).decode())
    GATE_EVENTS.labels(ev.kind, outcome.decision.action, str(outcome.replayed).lower()).inc()
    return outcome.decision


@router.post("/heartbeat", response_model=HeartbeatOut)
async def heartbeat(hb: HeartbeatIn, db: DB, state: State, authorization: Auth = None) -> HeartbeatOut:
    lane = await _lane(db, state, authorization)
    now = datetime.now(UTC)
    body = hb.model_dump(mode="json")
    await db.execute(update(Lane).where(Lane.id == lane.id).values(last_seen_at=now, last_heartbeat=body))
    await db.commit()
    await state.redis.set(
        f"lane:{lane.id}:hb",
        orjson.dumps({**body, "at": now.isoformat()}).decode(),
        ex=state.settings.lane_offline_after_s,
    )
    return HeartbeatOut(
        server_time=now, lane={"id": str(lane.id), "code": lane.code, "lot": lane.lot_code, "direction": lane.direction}
    )


@router.get("/cache", summary="What the lane needs to keep working offline")
async def offline_cache(db: DB, state: State, authorization: Auth = None) -> dict[str, Any]:
    lane = await _lane(db, state, authorization)
    cache = await exit_hook.offline_cache(db, lot_id=lane.lot_id)
    snap = await lot_snapshot(db, state.redis, lane.lot_id)
    full = {c: v["full"] for lot in snap for c, v in lot["classes"].items()}
    return {
        **cache,
        "lot": {"id": str(lane.lot_id), "code": lane.lot_code, "full": full},
        "generated_at": datetime.now(UTC).isoformat(),
    }


@router.get("/sessions/{session_id}", response_model=SessionStatus)
async def session_status(session_id: uuid.UUID, db: DB, state: State, authorization: Auth = None) -> SessionStatus:
    lane = await _lane(db, state, authorization)
    row = (await db.execute(select(ParkingSession).where(ParkingSession.id == session_id))).scalar_one_or_none()
    if row is None or row.lot_id != lane.lot_id:
        raise AppError("session_not_found", f"No session {session_id} in lot {lane.lot_code}.", 404)
    action = None
    if row.status == "closed":
        if "over_deferred_limit" in (row.flags or []) and row.payment_status == "charging":
            action = "attendant"  # the driver already owes too much to be let out on a background charge
        else:
            action = "open" if row.payment_status in {"paid", "free", "charging", "deferred"} else "pay"
    receipt = await receipt_url_for_session(db, row.id, state.settings.public_base_url)
    return SessionStatus(
        session_id=row.id,
        status=row.status,
        payment_status=row.payment_status,
        action=action,
        fee_vnd=row.fee_vnd,
        receipt_url=receipt,
    )


@router.post(
    "/sessions/{session_id}/left-unpaid",
    summary="The exit lane let the car out after the lot's QR wait: what is owed becomes a debt",
)
async def left_unpaid(session_id: uuid.UUID, db: DB, state: State, authorization: Auth = None) -> dict[str, Any]:
    lane = await _lane(db, state, authorization)
    debt = await release.left_unpaid(db, lane, session_id)
    await db.commit()
    return {
        "session_id": str(session_id),
        "debt_id": str(debt.id) if debt else None,
        "amount_vnd": debt.amount_vnd if debt else 0,
    }


@router.get("/events/{event_id}", response_model=GateDecision, summary="The answer given to an event")
async def get_event(event_id: uuid.UUID, db: DB, state: State, authorization: Auth = None) -> GateDecision:
    lane = await _lane(db, state, authorization)
    row = (await db.execute(select(GateEvent).where(GateEvent.id == event_id))).scalar_one_or_none()
    if row is None or row.lane_id != lane.id or row.decision is None:
        raise AppError("event_not_found", f"Lane {lane.code} has no event {event_id}.", 404)
    return GateDecision.model_validate(row.decision)


@router.get("/commands", summary="Server-sent events: commands for this lane (open after payment, operator)")
async def commands(request: Request, db: DB, state: State, authorization: Auth = None) -> EventSourceResponse:
    lane = await _lane(db, state, authorization)
    await db.rollback()  # release the connection: the stream may stay open for hours

    async def stream() -> AsyncIterator[dict[str, str]]:
        pubsub = state.redis.pubsub()
        await pubsub.subscribe(f"lane:{lane.id}:commands")
        try:
            yield {"event": "hello", "data": orjson.dumps({"lane": lane.code}).decode()}
            while not await request.is_disconnected():
                msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if msg is not None:
                    yield {"event": "command", "data": str(msg["data"])}
                else:
                    await asyncio.sleep(0)
        finally:
            await pubsub.unsubscribe()
            await pubsub.aclose()

    return EventSourceResponse(stream(), ping=15)
