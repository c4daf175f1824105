"""The seam between the gate flow and payments.

The gate service calls these three functions inside the gate event's transaction. The payments package
owns their bodies; the defaults here are the behaviour without any payment method: a free stay opens,
a paid stay is told to pay and is recorded as a debt-in-waiting.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class ExitContext:
    session_id: uuid.UUID
    lot_id: uuid.UUID
    lane_id: uuid.UUID
    plate_norm: str | None
    vehicle_class: str
    fee_vnd: int
    exited_at: datetime
    offline: bool = False  # the lane already opened while offline: charge later, never block


@dataclass
class ExitPayment:
    action: str  # open | pay | attendant
    display_title: str
    display_lines: list[str] = field(default_factory=list)
    payment: dict[str, Any] | None = None
    payment_status: str = "none"  # paid | charging | awaiting_qr | deferred | free
    flags: list[str] = field(default_factory=list)


async def decide_exit(db: AsyncSession, ctx: ExitContext) -> ExitPayment:
    if ctx.fee_vnd == 0:
        return ExitPayment("open", "Cảm ơn / Thank you", ["Miễn phí / No charge"], payment_status="free")
    if ctx.offline:
        return ExitPayment("open", "Cảm ơn / Thank you", [], payment_status="deferred", flags=["charge_later"])
    return ExitPayment(
        "pay", "Vui lòng thanh toán / Please pay", [f"{ctx.fee_vnd:,} VND".replace(",", ".")],
        payment={"amount_vnd": ctx.fee_vnd}, payment_status="awaiting_qr",
    )


async def entry_notice(db: AsyncSession, *, lot_id: uuid.UUID, plate_norm: str) -> str | None:
    return None


async def active_pass(db: AsyncSession, *, plate_norm: str, lot_id: uuid.UUID, at: datetime) -> Any | None:
    return None


async def offline_cache(db: AsyncSession, *, lot_id: uuid.UUID) -> dict[str, list[str]]:
    """Plates a lane may let out while offline because they will be charged later."""
    return {"passes": [], "linked_plates": []}
