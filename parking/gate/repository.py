"""SQL for gate events: the idempotent insert, the stored answer, the per-plate serialisation lock."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Row, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parking.models import GateEvent, GateEventImage
from parking.models.base import table


async def insert_event(db: AsyncSession, **values: Any) -> bool:
    """Insert the event unless its id exists (then wait for, and defer to, the first writer). True if inserted."""
    inserted = (
        await db.execute(
            insert(table(GateEvent))
            .values(**values)
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(GateEvent.id)
        )
    ).scalar_one_or_none()
    return inserted is not None


async def insert_image(db: AsyncSession, event_id: uuid.UUID, data: bytes) -> None:
    await db.execute(insert(table(GateEventImage)).values(event_id=event_id, data=data))


async def lock_plate(db: AsyncSession, lot_id: uuid.UUID, plate: str) -> None:
    """Serialise the events of one plate in one lot until the transaction ends."""
    await db.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(f"{lot_id}:{plate}", 0))))


async def stored_answer(db: AsyncSession, event_id: uuid.UUID) -> Row[Any]:
    return (
        await db.execute(
            select(GateEvent.lane_id, GateEvent.request_hash, GateEvent.decision).where(GateEvent.id == event_id)
        )
    ).one()


async def set_decision(
    db: AsyncSession, event_id: uuid.UUID, decision: dict[str, Any], session_id: uuid.UUID | None
) -> None:
    await db.execute(
        update(table(GateEvent)).where(GateEvent.id == event_id).values(decision=decision, session_id=session_id)
    )


async def get(db: AsyncSession, event_id: uuid.UUID) -> GateEvent | None:
    return (await db.execute(select(GateEvent).where(GateEvent.id == event_id))).scalar_one_or_none()
