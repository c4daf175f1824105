"""Outbox handlers: the side effects of payments (charges, refunds, lane commands)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from parking.kit import outbox, redis_keys
from parking.payments import service


@outbox.handler(service.TOPIC_CHARGE)
async def charge(db: AsyncSession, payload: dict[str, Any], ctx: outbox.OutboxContext) -> None:
    await service.background_charge(db, payment_id=uuid.UUID(payload["payment_id"]), token=payload["token"])


@outbox.handler(service.TOPIC_REFUND)
async def refund(db: AsyncSession, payload: dict[str, Any], ctx: outbox.OutboxContext) -> None:
    await service.execute_refund(db, refund_id=uuid.UUID(payload["refund_id"]))


@outbox.handler(service.TOPIC_LANE_OPEN)
async def lane_open(db: AsyncSession, payload: dict[str, Any], ctx: outbox.OutboxContext) -> None:
    # The gate's SSE endpoint relays this channel to the lane agent, which opens the barrier.
    if ctx.redis is None:
        raise RuntimeError("no Redis to publish lane commands on")
    message = {"type": "open", "session_id": payload["session_id"], "reason": payload["reason"]}
    await ctx.redis.publish(redis_keys.lane_commands(payload["lane_id"]), json.dumps(message))
