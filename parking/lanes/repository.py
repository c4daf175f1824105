"""SQL for lanes: the credential lookup, heartbeats, the operator's list."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parking.models import Lane, Lot


async def lane_with_lot(db: AsyncSession, lane_id: uuid.UUID) -> Row[Lane, str, str, str] | None:
    return (
        await db.execute(
            select(Lane, Lot.code, Lot.tariff_id, Lot.tariff_zone)
            .join(Lot, Lot.id == Lane.lot_id)
            .where(Lane.id == lane_id)
        )
    ).one_or_none()


async def record_heartbeat(db: AsyncSession, lane_id: uuid.UUID, at: datetime, body: dict[str, Any]) -> None:
    await db.execute(update(Lane).where(Lane.id == lane_id).values(last_seen_at=at, last_heartbeat=body))


async def with_lot_code(db: AsyncSession, lot_ids: Sequence[uuid.UUID]) -> list[Row[Lane, str]]:
    """The lanes of these lots (a staff member's), with their lot's code."""
    query = (
        select(Lane, Lot.code)
        .join(Lot, Lot.id == Lane.lot_id)
        .where(Lot.id.in_(list(lot_ids)))
        .order_by(Lot.code, Lane.code)
    )
    return list((await db.execute(query)).all())
