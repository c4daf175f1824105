"""Vocabulary shared by the payment sub-concepts: outbox topics, idempotency keys, the lane's texts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from parking.kit import money, outbox

TOPIC_CHARGE = "payments.charge"
TOPIC_LANE_OPEN = "payments.lane_open"
TOPIC_REFUND = "payments.refund"

THANKS = "Cảm ơn / Thank you"
PAY = "Vui lòng thanh toán / Please pay"
WAIT = "Vui lòng chờ / Please wait"


def exit_key(session_id: uuid.UUID) -> str:
    """Idempotency key of the exit charge, derived from the session: one session, one charge."""
    return f"exit-{session_id}"


def fmt_vnd(v: int) -> str:
    return money.vnd(v)


@dataclass
class ExitAnswer:
    action: str
    title: str
    lines: list[str]
    payment_status: str
    payment: dict[str, Any] | None = None
    flags: list[str] = field(default_factory=list)


async def enqueue_lane_open(db: AsyncSession, lane_id: uuid.UUID, session_id: uuid.UUID, key: str) -> None:
    await outbox.enqueue(
        db,
        TOPIC_LANE_OPEN,
        {"lane_id": str(lane_id), "session_id": str(session_id), "reason": "payment_confirmed"},
        key=f"lane-open:{key}",
    )
