"""SQL for lots."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parking.models import Lot


async def all_lots(db: AsyncSession) -> Sequence[Lot]:
    return (await db.execute(select(Lot).order_by(Lot.code))).scalars().all()


async def get(db: AsyncSession, lot_id: uuid.UUID) -> Lot | None:
    return (await db.execute(select(Lot).where(Lot.id == lot_id))).scalar_one_or_none()
