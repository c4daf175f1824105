"""SQL of the consoles. Every query is limited to the lots the staff member may see."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from parking.models import (
    ConsoleAlert,
    GateEvent,
    GateEventImage,
    Invoice,
    Lane,
    LaneOverride,
    Lot,
    LotCapacity,
    ParkingSession,
    Payment,
)


async def lots(db: AsyncSession, lot_ids: Sequence[uuid.UUID]) -> list[Lot]:
    return list((await db.execute(select(Lot).where(Lot.id.in_(lot_ids)).order_by(Lot.code))).scalars())


async def lanes(db: AsyncSession, lot_ids: Sequence[uuid.UUID]) -> list[tuple[Lane, str]]:
    rows = await db.execute(
        select(Lane, Lot.code).join(Lot, Lot.id == Lane.lot_id).where(Lot.id.in_(lot_ids)).order_by(Lot.code, Lane.code)
    )
    return [(lane, code) for lane, code in rows.all()]


async def lane(db: AsyncSession, lane_id: uuid.UUID) -> Lane | None:
    return await db.get(Lane, lane_id)


async def last_events_per_lane(db: AsyncSession, lane_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, GateEvent]:
    if not lane_ids:
        return {}
    rows = await db.execute(
        select(GateEvent)
        .where(GateEvent.lane_id.in_(lane_ids))
        .ext(distinct_on(GateEvent.lane_id))
        .order_by(GateEvent.lane_id, GateEvent.received_at.desc())
    )
    return {e.lane_id: e for e in rows.scalars()}


async def recent_events(db: AsyncSession, lot_ids: Sequence[uuid.UUID], limit: int, since: datetime) -> list[Any]:
    rows = await db.execute(
        select(GateEvent, Lane.code.label("lane_code"), Lot.code.label("lot_code"))
        .join(Lane, Lane.id == GateEvent.lane_id)
        .join(Lot, Lot.id == GateEvent.lot_id)
        .where(GateEvent.lot_id.in_(lot_ids), GateEvent.received_at >= since)
        .order_by(GateEvent.received_at.desc())
        .limit(limit)
    )
    return list(rows.all())


async def event_with_codes(db: AsyncSession, event_id: uuid.UUID) -> Any:
    row = await db.execute(
        select(GateEvent, Lane.code.label("lane_code"), Lot.code.label("lot_code"))
        .join(Lane, Lane.id == GateEvent.lane_id)
        .join(Lot, Lot.id == GateEvent.lot_id)
        .where(GateEvent.id == event_id)
    )
    return row.one_or_none()


async def event_image(db: AsyncSession, event_id: uuid.UUID) -> tuple[uuid.UUID, bytes, str] | None:
    row = (
        await db.execute(
            select(GateEvent.lot_id, GateEventImage.data, GateEventImage.content_type)
            .join(GateEventImage, GateEventImage.event_id == GateEvent.id)
            .where(GateEvent.id == event_id)
        )
    ).one_or_none()
    return (row[0], row[1], row[2]) if row else None


async def hourly_occupancy(db: AsyncSession, lot_ids: Sequence[uuid.UUID], start: datetime) -> list[Any]:
    """Vehicles present at the end of each hour of the 24 from `start`, per lot (from the sessions)."""
    q = text(
        """
        SELECT l.code, h.i AS hour,
               count(s.id) FILTER (WHERE s.entry_at <= h.t AND (s.exit_at IS NULL OR s.exit_at > h.t)) AS n
        FROM lots l
        CROSS JOIN LATERAL (SELECT i, CAST(:start AS timestamptz) + (i + 1) * interval '1 hour' AS t
                            FROM generate_series(0, 23) AS i) h
        LEFT JOIN parking_sessions s ON s.lot_id = l.id AND s.entry_at <= h.t
             AND (s.exit_at IS NULL OR s.exit_at > CAST(:start AS timestamptz))
        WHERE l.id = ANY(:lots)
        GROUP BY l.code, h.i ORDER BY l.code, h.i
        """
    )
    return list((await db.execute(q, {"start": start, "lots": list(lot_ids)})).all())


async def review_sessions(db: AsyncSession, lot_ids: Sequence[uuid.UUID], limit: int = 50) -> list[Any]:
    rows = await db.execute(
        select(ParkingSession, Lot.code.label("lot_code"), Lot.tariff_id, Lot.tariff_zone)
        .join(Lot, Lot.id == ParkingSession.lot_id)
        .where(
            ParkingSession.lot_id.in_(lot_ids),
            or_(
                ParkingSession.review_status == "pending",
                # Plates the grammar corrected are worth a look too, until a person resolves them.
                and_(
                    ParkingSession.review_status == "none",
                    ParkingSession.flags.overlap(["plate_corrected", "plate_mismatch"]),
                    ParkingSession.updated_at >= func.now() - text("interval '2 days'"),
                ),
            ),
        )
        .order_by(ParkingSession.updated_at.desc())
        .limit(limit)
    )
    return list(rows.all())


async def events_by_ids(db: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, GateEvent]:
    if not ids:
        return {}
    return {e.id: e for e in (await db.execute(select(GateEvent).where(GateEvent.id.in_(ids)))).scalars()}


async def session_for_update(db: AsyncSession, session_id: uuid.UUID) -> ParkingSession | None:
    return (
        await db.execute(select(ParkingSession).where(ParkingSession.id == session_id).with_for_update())
    ).scalar_one_or_none()


async def session_payments(db: AsyncSession, session_id: uuid.UUID) -> list[Payment]:
    rows = await db.execute(
        select(Payment)
        .where(Payment.session_id == session_id, Payment.status.in_(("confirmed", "partially_refunded")))
        .order_by(Payment.created_at)
    )
    return list(rows.scalars())


async def alerts(db: AsyncSession, operator_id: uuid.UUID, lot_ids: Sequence[uuid.UUID], open_only: bool) -> list[Any]:
    q = (
        select(ConsoleAlert, Lot.code.label("lot_code"))
        .outerjoin(Lot, Lot.id == ConsoleAlert.lot_id)
        .where(
            ConsoleAlert.operator_id == operator_id,
            or_(ConsoleAlert.lot_id.is_(None), ConsoleAlert.lot_id.in_(lot_ids)),
        )
        .order_by(ConsoleAlert.acknowledged_at.is_not(None), ConsoleAlert.raised_at.desc())
        .limit(200)
    )
    if open_only:
        q = q.where(ConsoleAlert.acknowledged_at.is_(None))
    return list((await db.execute(q)).all())


async def overrides(db: AsyncSession, lot_ids: Sequence[uuid.UUID], since: datetime) -> list[Any]:
    rows = await db.execute(
        select(LaneOverride, Lane.code.label("lane_code"), Lot.code.label("lot_code"))
        .join(Lane, Lane.id == LaneOverride.lane_id)
        .join(Lot, Lot.id == LaneOverride.lot_id)
        .where(LaneOverride.lot_id.in_(lot_ids), LaneOverride.at >= since)
        .order_by(LaneOverride.at.desc())
    )
    return list(rows.all())


async def revenue(db: AsyncSession, lot_ids: Sequence[uuid.UUID], start: datetime, end: datetime) -> list[Any]:
    """Confirmed payments of sessions in the lots, net of refunds, by local day, lot, provider, vehicle class."""
    day = func.to_char(func.timezone("Asia/Ho_Chi_Minh", Payment.confirmed_at), "YYYY-MM-DD").label("day")
    rows = await db.execute(
        select(
            day,
            Lot.code.label("lot"),
            Payment.provider.label("provider"),
            ParkingSession.vehicle_class.label("vehicle_class"),
            func.count(Payment.id).label("payments"),
            func.sum(Payment.amount_vnd).label("gross_vnd"),
            func.sum(Payment.refunded_vnd).label("refunded_vnd"),
        )
        .join(ParkingSession, ParkingSession.id == Payment.session_id)
        .join(Lot, Lot.id == ParkingSession.lot_id)
        .where(
            ParkingSession.lot_id.in_(lot_ids),
            Payment.status.in_(("confirmed", "partially_refunded", "refunded")),
            Payment.confirmed_at >= start,
            Payment.confirmed_at < end,
        )
        .group_by(day, Lot.code, Payment.provider, ParkingSession.vehicle_class)
        .order_by(day, Lot.code, Payment.provider, ParkingSession.vehicle_class)
    )
    return list(rows.all())


async def invoices(
    db: AsyncSession,
    operator_id: uuid.UUID,
    lot_ids: Sequence[uuid.UUID],
    *,
    code: str | None,
    plate: str | None,
    day_start: datetime | None,
    day_end: datetime | None,
    buyer_tax_code: str | None,
    limit: int = 100,
) -> list[Invoice]:
    q = (
        select(Invoice)
        .outerjoin(ParkingSession, ParkingSession.id == Invoice.session_id)
        .where(
            Invoice.operator_id == operator_id,
            or_(ParkingSession.lot_id.in_(lot_ids), and_(Invoice.session_id.is_(None))),
        )
    )
    if code:
        q = q.where(Invoice.mccqt.ilike(f"%{code.strip()}%"))
    if plate:
        q = q.where(Invoice.plate.ilike(f"%{plate.strip()}%"))
    if day_start is not None and day_end is not None:
        q = q.where(Invoice.issued_at >= day_start, Invoice.issued_at < day_end)
    if buyer_tax_code:
        q = q.where(Invoice.buyer_tax_code == buyer_tax_code.strip())
    return list((await db.execute(q.order_by(Invoice.issued_at.desc()).limit(limit))).scalars())


async def open_sessions(
    db: AsyncSession, lot_id: uuid.UUID, vehicle_class: str, limit: int = 500
) -> list[ParkingSession]:
    rows = await db.execute(
        select(ParkingSession)
        .where(
            ParkingSession.lot_id == lot_id,
            ParkingSession.status == "open",
            ParkingSession.vehicle_class == vehicle_class,
        )
        .order_by(ParkingSession.entry_at.desc())
        .limit(limit)
    )
    return list(rows.scalars())


async def move_event(db: AsyncSession, event_id: uuid.UUID, session_id: uuid.UUID) -> None:
    await db.execute(update(GateEvent).where(GateEvent.id == event_id).values(session_id=session_id))


async def release_space(db: AsyncSession, lot_id: uuid.UUID, vehicle_class: str) -> None:
    await db.execute(
        update(LotCapacity)
        .where(LotCapacity.lot_id == lot_id, LotCapacity.vehicle_class == vehicle_class)
        .values(occupied=func.greatest(LotCapacity.occupied - 1, 0))
    )


async def sessions_by_ids(db: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, ParkingSession]:
    if not ids:
        return {}
    rows = await db.execute(select(ParkingSession).where(ParkingSession.id.in_(ids)))
    return {s.id: s for s in rows.scalars()}
