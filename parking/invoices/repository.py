"""SQL for reading invoices. No business rules (issuing and numbering live in the service)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parking.models import Invoice


async def of_driver(db: AsyncSession, driver_id: uuid.UUID, limit: int) -> Sequence[Invoice]:
    query = (
        select(Invoice)
        .where(Invoice.driver_id == driver_id)
        .order_by(Invoice.issued_at.desc(), Invoice.seq.desc())
        .limit(limit)
    )
    return (await db.execute(query)).scalars().all()
