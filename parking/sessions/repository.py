"""SQL for parking sessions. No business rules: the caller decides what a close or a correction means."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parking.models import ParkingSession, Vehicle
from parking.models.base import table


async def ensure_vehicle(db: AsyncSession, plate: str, vehicle_class: str) -> None:
    await db.execute(insert(table(Vehicle)).values(plate=plate, vehicle_class=vehicle_class).on_conflict_do_nothing())


async def close_open_for_review(
    db: AsyncSession, *, lot_id: uuid.UUID, plate: str, flag: str, reason: str
) -> str | None:
    """Close the plate's open session in the lot (if any) for review; returns its vehicle class."""
    row = (
        await db.execute(
            update(table(ParkingSession))
            .where(ParkingSession.lot_id == lot_id, ParkingSession.plate == plate, ParkingSession.status == "open")
            .values(
                status="closed",
                flags=func.array_append(ParkingSession.flags, flag),
                review_status="pending",
                review_reason=reason,
                updated_at=func.now(),
            )
            .returning(ParkingSession.vehicle_class)
        )
    ).one_or_none()
    return None if row is None else str(row.vehicle_class)


async def insert_session(db: AsyncSession, **values: Any) -> None:
    await db.execute(insert(table(ParkingSession)).values(**values))


async def open_for_update(db: AsyncSession, *, lot_id: uuid.UUID, plate: str) -> ParkingSession | None:
    return (
        await db.execute(
            select(ParkingSession)
            .where(
                and_(
                    ParkingSession.lot_id == lot_id,
                    ParkingSession.plate == plate,
                    ParkingSession.status == "open",
                )
            )
            .with_for_update()
        )
    ).scalar_one_or_none()


async def open_plates(db: AsyncSession, *, lot_id: uuid.UUID, vehicle_classes: Sequence[str]) -> list[str]:
    rows = (
        await db.execute(
            select(ParkingSession.plate).where(
                ParkingSession.lot_id == lot_id,
                ParkingSession.status == "open",
                ParkingSession.plate.is_not(None),
                ParkingSession.vehicle_class.in_(list(vehicle_classes)),
            )
        )
    ).scalars()
    return [p for p in rows if p]


async def update_session(db: AsyncSession, session_id: uuid.UUID, **values: Any) -> None:
    await db.execute(update(table(ParkingSession)).where(ParkingSession.id == session_id).values(**values))


async def get(db: AsyncSession, session_id: uuid.UUID) -> ParkingSession | None:
    return (await db.execute(select(ParkingSession).where(ParkingSession.id == session_id))).scalar_one_or_none()
