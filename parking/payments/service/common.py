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


@dataclass(frozen=True)
class PendingCharge:
    """A linked-account charge recorded (payment row + outbox completion) but not yet sent to the provider."""

    payment_id: uuid.UUID
    session_id: uuid.UUID
    lane_id: uuid.UUID
    driver_id: uuid.UUID
    token: str
    fee_vnd: int
    idempotency_key: str


@dataclass
class ExitAnswer:
    action: str
    title: str
    lines: list[str]
    payment_status: str
    payment: dict[str, Any] | None = None
    flags: list[str] = field(default_factory=list)
    # Set when the caller asked to make the charge itself after committing (charge_inline=False): the answer
    # above is then the provisional one (as if the outcome were unknown), replaced by `record_linked_outcome`.
    charge: PendingCharge | None = None


async def enqueue_lane_open(db: AsyncSession, lane_id: uuid.UUID, session_id: uuid.UUID, key: str) -> None:
    await outbox.enqueue(
        db,
        TOPIC_LANE_OPEN,
        {"lane_id": str(lane_id), "session_id": str(session_id), "reason": "payment_confirmed"},
        key=f"lane-open:{key}",
    )
