"""SQL for the lots' capacity counters (``lot_capacities``) and the occupancy read model."""

from __future__ import annotations

import uuid

from sqlalchemy import Row, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parking.models import Lot, LotCapacity, OpenSession


async def snapshot_rows(
    db: AsyncSession, lot_id: uuid.UUID | None = None
) -> list[Row[uuid.UUID, str, str, str, int, int]]:
    q = select(Lot.id, Lot.code, Lot.name, LotCapacity.vehicle_class, LotCapacity.capacity, LotCapacity.occupied).join(
        LotCapacity, LotCapacity.lot_id == Lot.id
    )
    if lot_id is not None:
        q = q.where(Lot.id == lot_id)
    return list((await db.execute(q.order_by(Lot.code, LotCapacity.vehicle_class))).all())


async def counters_for_update(db: AsyncSession) -> list[Row[uuid.UUID, str, int]]:
    return list(
        (
            await db.execute(
                select(LotCapacity.lot_id, LotCapacity.vehicle_class, LotCapacity.occupied)
                .order_by(LotCapacity.lot_id, LotCapacity.vehicle_class)
                .with_for_update()
            )
        ).all()
    )


async def open_session_counts(db: AsyncSession) -> dict[tuple[uuid.UUID, str], int]:
    # open_sessions mirrors the open rows of the month-partitioned parking_sessions (trigger, migration 0070):
    # counting there reads the open stays only, not every month's index.
    rows = await db.execute(
        select(OpenSession.lot_id, OpenSession.vehicle_class, func.count().label("n")).group_by(
            OpenSession.lot_id, OpenSession.vehicle_class
        )
    )
    return {(r.lot_id, r.vehicle_class): int(r.n) for r in rows.all()}


async def set_occupied(db: AsyncSession, lot_id: uuid.UUID, vehicle_class: str, occupied: int) -> None:
    await db.execute(
        update(LotCapacity)
        .where(LotCapacity.lot_id == lot_id, LotCapacity.vehicle_class == vehicle_class)
        .values(occupied=occupied)
    )
