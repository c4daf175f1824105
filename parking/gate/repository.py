"""SQL for gate events: the idempotent insert with the rest of the event's first round trip (PL/pgSQL functions
``gate_entry`` and ``gate_exit_begin``, migrations 0050/0051), the stored answer.

Every event is serialised per plate and lot by ``pg_advisory_xact_lock(hashtextextended('<lot_id>:<plate>', 0))``
inside those functions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parking.gate.schemas import GateDecision
from parking.models import GateEvent, GateEventImage
from parking.models.base import table
from parking.sessions.service import OpenSession


async def insert_image(db: AsyncSession, event_id: uuid.UUID, data: bytes) -> None:
    await db.execute(insert(table(GateEventImage)).values(event_id=event_id, data=data))


async def stored_answer(db: AsyncSession, event_id: uuid.UUID) -> Row[Any]:
    return (
        await db.execute(
            select(GateEvent.lane_id, GateEvent.request_hash, GateEvent.decision).where(GateEvent.id == event_id)
        )
    ).one()


_DECISION_AND_PAYMENT = text(
    """
    WITH paid AS (
        UPDATE parking_sessions SET payment_status = :payment_status, flags = :flags WHERE id = :session_id
    )
    UPDATE gate_events SET decision = CAST(:decision AS jsonb), session_id = :session_id WHERE id = :event_id
    """
)


async def set_decision(
    db: AsyncSession,
    event_id: uuid.UUID,
    decision: GateDecision,
    *,
    payment: tuple[str, list[str]] | None = None,
) -> None:
    """Store the lane's answer on the event; with `payment` (status, flags), also on its session, same statement."""
    if payment is None or decision.session_id is None:
        await db.execute(
            update(table(GateEvent))
            .where(GateEvent.id == event_id)
            .values(decision=decision.model_dump(mode="json"), session_id=decision.session_id)
        )
        return
    await db.execute(
        _DECISION_AND_PAYMENT,
        {
            "event_id": event_id,
            "session_id": decision.session_id,
            "decision": decision.model_dump_json(),
            "payment_status": payment[0],
            "flags": payment[1],
        },
    )


async def get(db: AsyncSession, event_id: uuid.UUID) -> GateEvent | None:
    return (await db.execute(select(GateEvent).where(GateEvent.id == event_id))).scalar_one_or_none()


@dataclass(frozen=True)
class EntryResult:
    inserted: bool
    outcome: str | None  # open | full | not_served | skipped (None when not inserted)
    stale_class: str | None
    capacity: int | None
    session_id: uuid.UUID | None
    flags: list[str]
    debt_total: int
    debt_count: int


_ENTRY = text(
    "SELECT * FROM gate_entry(:event_id, :lane_id, :lot_id, :plate_read, :plate, :confidence, :vclass, :captured_at, "
    ":offline_action, :request_hash, :has_image, :proceed, :flags_before, :flags_after, :actor)"
)


async def entry(
    db: AsyncSession,
    *,
    event_id: uuid.UUID,
    lane_id: uuid.UUID,
    lot_id: uuid.UUID,
    plate_read: str | None,
    plate: str | None,
    confidence: float,
    vehicle_class: str,
    captured_at: datetime,
    offline_action: str | None,
    request_hash: str,
    has_image: bool,
    proceed: bool,
    flags_before: list[str],
    flags_after: list[str],
    actor: str,
) -> EntryResult:
    """The whole entry in one round trip (``gate_entry()``, migration 0050): event insert (idempotent), plate
    lock, vehicle, missed-exit close, capacity guard, session, audit row, the plate's open debts."""
    row = (
        await db.execute(
            _ENTRY,
            {
                "event_id": event_id,
                "lane_id": lane_id,
                "lot_id": lot_id,
                "plate_read": plate_read,
                "plate": plate,
                "confidence": confidence,
                "vclass": vehicle_class,
                "captured_at": captured_at,
                "offline_action": offline_action,
                "request_hash": request_hash,
                "has_image": has_image,
                "proceed": proceed,
                "flags_before": flags_before,
                "flags_after": flags_after,
                "actor": actor,
            },
        )
    ).one()
    return EntryResult(
        inserted=bool(row.inserted),
        outcome=row.outcome,
        stale_class=row.stale_class,
        capacity=row.capacity,
        session_id=row.session_id,
        flags=list(row.flags or []),
        debt_total=int(row.debt_total or 0),
        debt_count=int(row.debt_count or 0),
    )


@dataclass(frozen=True)
class ExitBegin:
    inserted: bool
    session: OpenSession | None  # the plate's open session in the lot (exact match), locked


_EXIT_BEGIN = text(
    "SELECT * FROM gate_exit_begin(:event_id, :lane_id, :lot_id, :plate_read, :plate, :confidence, :vclass, "
    ":captured_at, :offline_action, :request_hash, :has_image, :find)"
)


async def exit_begin(
    db: AsyncSession,
    *,
    event_id: uuid.UUID,
    lane_id: uuid.UUID,
    lot_id: uuid.UUID,
    plate_read: str | None,
    plate: str | None,
    confidence: float,
    vehicle_class: str,
    captured_at: datetime,
    offline_action: str | None,
    request_hash: str,
    has_image: bool,
    find: bool,
) -> ExitBegin:
    """The exit's first round trip (``gate_exit_begin()``, migration 0051): event insert (idempotent), plate lock
    and, when `find`, the plate's exact open session locked ``FOR UPDATE``."""
    row = (
        await db.execute(
            _EXIT_BEGIN,
            {
                "event_id": event_id,
                "lane_id": lane_id,
                "lot_id": lot_id,
                "plate_read": plate_read,
                "plate": plate,
                "confidence": confidence,
                "vclass": vehicle_class,
                "captured_at": captured_at,
                "offline_action": offline_action,
                "request_hash": request_hash,
                "has_image": has_image,
                "find": find,
            },
        )
    ).one()
    sess = None
    if row.s_id is not None:
        sess = OpenSession(
            row.s_id,
            row.s_plate,
            row.s_vehicle_class,
            row.s_entry_at,
            list(row.s_flags or []),
            row.s_review_status,
            row.s_review_reason,
        )
    return ExitBegin(bool(row.inserted), sess)
