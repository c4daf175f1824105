"""SQL for parking sessions. No business rules: the caller decides what a close or a correction means."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parking.models import OpenSession, ParkingSession, SessionStatus
from parking.models.base import table


async def insert_session(db: AsyncSession, **values: Any) -> None:
    await db.execute(insert(table(ParkingSession)).values(**values))


async def open_for_update(db: AsyncSession, *, lot_id: uuid.UUID, plate: str) -> ParkingSession | None:
    # Through open_sessions (one index probe), then the session by id: one partition, whatever the months kept.
    open_id = (
        select(OpenSession.session_id).where(OpenSession.lot_id == lot_id, OpenSession.plate == plate).scalar_subquery()
    )
    return (
        await db.execute(
            select(ParkingSession)
            .where(and_(ParkingSession.id == open_id, ParkingSession.status == SessionStatus.OPEN))
            .with_for_update()
        )
    ).scalar_one_or_none()


async def open_plates(db: AsyncSession, *, lot_id: uuid.UUID, vehicle_classes: Sequence[str]) -> list[str]:
    rows = (
        await db.execute(
            select(OpenSession.plate).where(
                OpenSession.lot_id == lot_id,
                OpenSession.plate.is_not(None),
                OpenSession.vehicle_class.in_(list(vehicle_classes)),
            )
        )
    ).scalars()
    return [p for p in rows if p]


_CLOSE_AND_FREE = text(
    """
    WITH closed AS (
        UPDATE parking_sessions
           SET status = 'closed', exit_event_id = :exit_event_id, exit_at = :exit_at, exit_plate = :exit_plate,
               flags = :flags, review_status = :review_status, review_reason = :review_reason, fee_vnd = :fee_vnd,
               fee_lines = CAST(:fee_lines AS jsonb), tariff_id = :tariff_id, tariff_version = :tariff_version,
               updated_at = now()
         WHERE id = :session_id
        RETURNING lot_id, vehicle_class
    ), audited AS (
        INSERT INTO audit_log (actor, action, entity, entity_id, data)
        VALUES (:actor, 'session.close', 'parking_session', :entity_id, CAST(:audit AS jsonb))
    ), freed AS (
        UPDATE lot_capacities c SET occupied = greatest(c.occupied - 1, 0)
          FROM closed WHERE c.lot_id = closed.lot_id AND c.vehicle_class = closed.vehicle_class
    )
    SELECT count(*) FROM closed
    """
)


async def close_and_free(
    db: AsyncSession, session_id: uuid.UUID, closing: dict[str, Any], *, actor: str, audit: dict[str, Any]
) -> None:
    """Close a (locked) session, write its audit row and free its space in one round trip (the gate's hot path).

    The capacity row is taken after the session row, as everywhere (vehicles -> parking_sessions -> lot_capacities).
    """
    fee_lines = closing["fee_lines"]
    await db.execute(
        _CLOSE_AND_FREE,
        {
            **closing,
            "fee_lines": None if fee_lines is None else json.dumps(fee_lines),
            "session_id": session_id,
            "actor": actor,
            "entity_id": str(session_id),
            "audit": json.dumps(audit),
        },
    )


_OCCUPY = text(
    """
    UPDATE lot_capacities SET occupied = occupied + 1
     WHERE lot_id = :lot_id AND vehicle_class = :vehicle_class
    RETURNING occupied, capacity
    """
)


async def occupy_unguarded(db: AsyncSession, *, lot_id: uuid.UUID, vehicle_class: str) -> tuple[int, int] | None:
    """Count a vehicle that is already inside, above capacity if need be (the lane opened on its own).

    Returns (occupied, capacity) after the count, or None when the lot does not count that class."""
    row = (await db.execute(_OCCUPY, {"lot_id": lot_id, "vehicle_class": vehicle_class})).first()
    return (int(row.occupied), int(row.capacity)) if row is not None else None


async def set_flags(db: AsyncSession, session_id: uuid.UUID, flags: list[str]) -> None:
    await db.execute(update(table(ParkingSession)).where(ParkingSession.id == session_id).values(flags=flags))


async def get(db: AsyncSession, session_id: uuid.UUID) -> ParkingSession | None:
    return (await db.execute(select(ParkingSession).where(ParkingSession.id == session_id))).scalar_one_or_none()
