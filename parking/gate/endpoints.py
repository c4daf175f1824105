"""Gate API for lane agents (``/v1/gate``). Thin: authenticate, call the service, register after-commit effects."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Request
from redis.asyncio import Redis
from sse_starlette.sse import EventSourceResponse

from parking.gate import release, service
from parking.gate.schemas import GateDecision, GateEventIn, HeartbeatIn, HeartbeatOut, SessionStatus
from parking.kit import redis_keys, sse, uow
from parking.kit.deps import DB, State
from parking.kit.metrics import GATE_EVENTS
from parking.kit.uow import after_commit
from parking.lanes import repository as lanes_repo
from parking.lanes.auth import LaneInfo, authenticate
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
    rules = _rules(state)
    outcome = await service.handle_event(db, ev, lane, rules, state.tariffs, datetime.now(UTC))
    if not outcome.replayed:
        redis, effects = state.redis, outcome.effects
        after_commit(db, "occupancy.mirror", lambda: apply_deltas(redis, effects.occupancy))
        if (pending := outcome.pending_charge) is not None:
            # Two short transactions around the provider call: the first (session closed, space freed, payment
            # and its outbox completion recorded) commits here, so no row lock is held while the provider
            # answers; the second records the outcome and is committed by the request's unit of work.
            await uow.commit(db, wait_for_flush=False)  # the second commit, before the answer, makes it durable
            result = await exit_hook.charge(pending)
            outcome = await service.finish_exit(db, outcome, result, rules)
        after_commit(db, "gate.live_stream", lambda: _publish(redis, effects.publish))
    labels = (ev.kind, outcome.decision.action, str(outcome.replayed).lower())

    async def count() -> None:
        GATE_EVENTS.labels(*labels).inc()

    after_commit(db, "gate.metrics", count)
    return outcome.decision


async def _publish(redis: Redis, messages: list[tuple[str, dict[str, Any]]]) -> None:
    if not messages:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for channel, message in messages:
            pipe.publish(channel, orjson.dumps(message).decode())
        await pipe.execute()


@router.post("/heartbeat", response_model=HeartbeatOut)
async def heartbeat(hb: HeartbeatIn, db: DB, state: State, authorization: Auth = None) -> HeartbeatOut:
    lane = await _lane(db, state, authorization)
    now = datetime.now(UTC)
    body = hb.model_dump(mode="json")
    await lanes_repo.record_heartbeat(db, lane.id, now, body)
    redis, ttl = state.redis, state.settings.lane_offline_after_s
    hb_copy = orjson.dumps({**body, "at": now.isoformat()}).decode()
    after_commit(db, "lane.heartbeat", lambda: redis.set(redis_keys.lane_heartbeat(lane.id), hb_copy, ex=ttl))
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
    return await service.session_status(db, session_id, lane, state.settings.public_base_url)


@router.post(
    "/sessions/{session_id}/left-unpaid",
    summary="The exit lane let the car out after the lot's QR wait: what is owed becomes a debt",
)
async def left_unpaid(session_id: uuid.UUID, db: DB, state: State, authorization: Auth = None) -> dict[str, Any]:
    lane = await _lane(db, state, authorization)
    debt = await release.left_unpaid(db, lane, session_id)
    return {
        "session_id": str(session_id),
        "debt_id": str(debt.id) if debt else None,
        "amount_vnd": debt.amount_vnd if debt else 0,
    }


@router.get("/events/{event_id}", response_model=GateDecision, summary="The answer given to an event")
async def get_event(event_id: uuid.UUID, db: DB, state: State, authorization: Auth = None) -> GateDecision:
    lane = await _lane(db, state, authorization)
    return await service.stored_decision(db, event_id, lane)


@router.get("/commands", summary="Server-sent events: commands for this lane (open after payment, operator)")
async def commands(request: Request, db: DB, state: State, authorization: Auth = None) -> EventSourceResponse:
    lane = await _lane(db, state, authorization)
    await db.rollback()  # release the connection: the stream may stay open for hours

    hello = ("hello", orjson.dumps({"lane": lane.code}).decode())
    return sse.relay(request, state.redis, [redis_keys.lane_commands(lane.id)], event="command", first=hello)
