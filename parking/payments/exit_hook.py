"""The seam between the gate flow and payments.

The gate service calls these functions inside the gate event's transaction (they never commit):
`decide_exit` charges a linked account or shows a VietQR (with ``charge_inline=False`` it only records the
charge; the gate commits, then calls `charge` with no transaction or lock held, then `record_charge` in a
second short transaction), `entry_notice` reports unpaid debts,
`active_pass` gives pricing the driver's monthly pass, `offline_cache` tells lanes whom they may let
out while offline.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import vnplate
from parking.models import DriverVehicle, MonthlyPass, PaymentMethod
from parking.payments import handlers as _handlers  # noqa: F401  (registers the outbox handlers)
from parking.payments import service
from parking.payments.plate_guard import linked_charge_refusal
from parking.payments.provider import ProviderResult
from parking.payments.service import PendingCharge
from parking.payments.settings import get_payment_settings


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
    # What the exit camera read (any spelling) and the gate agent's fused read confidence. A linked
    # account is charged silently only when this read IS the session's plate and is confident enough
    # (plate_guard); None (unknown) never charges silently.
    exit_read: str | None = None
    read_confidence: float | None = None


@dataclass
class ExitPayment:
    action: str  # open | pay | attendant
    display_title: str
    display_lines: list[str] = field(default_factory=list)
    payment: dict[str, Any] | None = None
    payment_status: str = "none"  # paid | charging | awaiting_qr | deferred | free
    flags: list[str] = field(default_factory=list)
    charge: PendingCharge | None = None  # to make after the commit (decide_exit(..., charge_inline=False))


def _view(a: service.ExitAnswer, lines: list[str] | None = None, flags: list[str] | None = None) -> ExitPayment:
    return ExitPayment(
        a.action, a.title, a.lines if lines is None else lines, a.payment, a.payment_status,
        a.flags if flags is None else flags, a.charge,
    )  # fmt: skip


async def decide_exit(db: AsyncSession, ctx: ExitContext, *, charge_inline: bool = True) -> ExitPayment:
    refusal = linked_charge_refusal(
        ctx.plate_norm, ctx.exit_read, ctx.read_confidence, get_payment_settings().linked_min_read_confidence
    )
    a = await service.exit_decision(
        db,
        session_id=ctx.session_id,
        lot_id=ctx.lot_id,
        lane_id=ctx.lane_id,
        plate=ctx.plate_norm,
        fee_vnd=ctx.fee_vnd,
        offline=ctx.offline,
        charge_inline=charge_inline,
        allow_linked=refusal is None,
    )
    lines, flags = list(a.lines), list(a.flags)
    if refusal is not None and "linked_account" not in flags and a.payment_status == "awaiting_qr":
        # The driver sees which plate the stay is billed to before paying.
        plate = vnplate.parse(ctx.plate_norm or "")
        shown = plate.canonical if plate else (ctx.plate_norm or "?")
        lines.insert(0, f"Biển số / Plate: {shown}")
        flags.append(f"linked_not_charged:{refusal}")
    return _view(a, lines, flags)


async def charge(pending: PendingCharge) -> ProviderResult:
    """The linked-account charge, bounded by the charge deadline; call it with no transaction open."""
    return await service.charge_linked(pending)


async def record_charge(db: AsyncSession, pending: PendingCharge, result: ProviderResult) -> ExitPayment:
    return _view(await service.record_linked_outcome(db, pending, result))


async def entry_notice(db: AsyncSession, *, lot_id: uuid.UUID, plate_norm: str) -> str | None:
    debts = await service.open_debts_for_plate(db, plate_norm)
    if not debts:
        return None
    return debt_notice(sum(d.amount_vnd for d in debts), len(debts))


def debt_notice(total: int, n: int) -> str:
    """The entry display's line about a plate's unpaid debts (the gate reads the sum in its entry round trip)."""
    return (
        f"Còn nợ {service.fmt_vnd(total)} ({n} lượt) / Unpaid {total:,} VND from {n} earlier stay{'s' if n > 1 else ''}"
    )


async def active_pass(db: AsyncSession, *, plate_norm: str, lot_id: uuid.UUID, at: datetime) -> Any | None:
    """The pass covering this plate in this lot at `at`, as the pricing engine's `Pass`."""
    from parking.pricing import Pass

    row = (
        (
            await db.execute(
                select(MonthlyPass)
                .where(
                    MonthlyPass.plate == plate_norm,
                    MonthlyPass.lot_id == lot_id,
                    MonthlyPass.status == "active",
                    MonthlyPass.valid_until > at,
                )
                .order_by(MonthlyPass.valid_from)
            )
        )
        .scalars()
        .first()
    )
    if row is None:
        return None
    # The engine covers [valid_from, valid_until) itself, so a stay starting before the pass is split.
    return Pass(
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        band=row.band,
        vehicle_class=row.vehicle_class,
        reference=f"pass:{row.id}",
    )


async def offline_cache(db: AsyncSession, *, lot_id: uuid.UUID) -> dict[str, list[str]]:
    """Plates a lane may let out while offline because they will be charged later."""
    from datetime import UTC

    now = datetime.now(UTC)
    passes = (
        await db.execute(
            select(MonthlyPass.plate).where(
                MonthlyPass.lot_id == lot_id,
                MonthlyPass.status == "active",
                MonthlyPass.valid_from <= now,
                MonthlyPass.valid_until > now,
            )
        )
    ).scalars()
    linked = (
        await db.execute(
            select(DriverVehicle.plate)
            .join(PaymentMethod, PaymentMethod.driver_id == DriverVehicle.driver_id)
            .where(PaymentMethod.status == "active")
        )
    ).scalars()
    return {"passes": sorted(set(passes)), "linked_plates": sorted(set(linked))}
