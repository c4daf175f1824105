"""``POST /v1/gate/events/{event_id}/outcome``: a lane reports what it did on its own (see gate/outcome.py)."""

from __future__ import annotations

import uuid
from typing import Annotated

import orjson
import structlog
from fastapi import APIRouter, Header

from parking.gate import outcome
from parking.gate.endpoints import _rules
from parking.gate.schemas import OutcomeIn, OutcomeOut
from parking.kit.deps import DB, State
from parking.kit.uow import after_commit
from parking.lanes.auth import authenticate
from parking.occupancy.service import apply_deltas

log = structlog.get_logger("parking.gate.outcome")
router = APIRouter(prefix="/v1/gate", tags=["gate"])


@router.post(
    "/events/{event_id}/outcome",
    response_model=OutcomeOut,
    summary="Report what the lane did on its own for an event already sent (idempotent)",
)
async def post_outcome(
    event_id: uuid.UUID,
    body: OutcomeIn,
    db: DB,
    state: State,
    authorization: Annotated[str | None, Header(alias="Authorization")] = None,
) -> OutcomeOut:
    lane = await authenticate(db, state.lanes, authorization)
    result = await outcome.record_outcome(db, event_id, body, lane, _rules(state), state.tariffs)
    # After the commit the outcome is a fact: Redis being down degrades the mirror (the repair job re-counts
    # it), never the answer (the unit of work logs and counts a failed effect).
    redis, effects = state.redis, result.effects

    async def publish() -> None:
        for channel, message in effects.publish:
            await redis.publish(channel, orjson.dumps(message).decode())

    after_commit(db, "occupancy.mirror", lambda: apply_deltas(redis, effects.occupancy))
    after_commit(db, "gate.live_stream", publish)
    return result.answer
