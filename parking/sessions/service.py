"""The parking session's lifecycle: open at entry, find at exit, close (priced or for review), correct.

Runs inside the caller's transaction and never commits. Lock order everywhere: vehicles -> parking_sessions
-> lot_capacities (the gate takes the session row before it touches the lot's counters), so concurrent
entries and exits of one plate cannot deadlock.

Opening at the gate is one round trip: ``gate_entry()`` (migration 0050, called by
``parking.gate.repository.entry``) inserts the event, closes a stay whose exit was missed (flag
``exit_missing``, for review), applies the capacity guard and inserts the session with its audit row. The exact
open session of an exit plate is found, locked, by ``gate_exit_begin()`` (migration 0051); `find_open` here is
the confusable-tolerant fallback.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from parking.audit.service import record as audit
from parking.models import ParkingSession, ReviewStatus, SessionStatus
from parking.models.base import new_id
from parking.sessions import repository as repo
from parking.sessions.matching import best_match
from parking.vocabulary import same_vehicle_group


@dataclass
class OpenSession:
    """What closing a session needs of it (a locked open session)."""

    id: uuid.UUID
    plate: str | None
    vehicle_class: str
    entry_at: datetime | None
    flags: list[str] = field(default_factory=list)
    review_status: str = "none"
    review_reason: str | None = None


def _matchable_classes(vehicle_class: str) -> tuple[str, ...]:
    """A car read at the exit may have entered as the other car size; other classes match only themselves."""
    return same_vehicle_group(vehicle_class)


async def record_unknown_exit(
    db: AsyncSession,
    *,
    lot_id: uuid.UUID,
    vehicle_class: str,
    exit_plate: str | None,
    exit_event_id: uuid.UUID,
    exit_at: datetime,
    flags: list[str],
    actor: str,
) -> uuid.UUID:
    """An exit with no matching entry: keep the fact as a closed, flagged session; a person decides the fee."""
    session_id = new_id()
    await repo.insert_session(
        db,
        id=session_id,
        lot_id=lot_id,
        vehicle_class=vehicle_class,
        plate=None,
        exit_plate=exit_plate,
        status=SessionStatus.CLOSED,
        exit_event_id=exit_event_id,
        exit_at=exit_at,
        flags=flags,
        review_status=ReviewStatus.PENDING,
        review_reason="exit without a matching entry",
    )
    await audit(
        db,
        actor=actor,
        action="session.unknown_entry",
        entity="parking_session",
        entity_id=str(session_id),
        data={"plate": exit_plate, "event_id": str(exit_event_id)},
    )
    return session_id


async def open_after_offline_entry(
    db: AsyncSession,
    *,
    lot_id: uuid.UUID,
    vehicle_class: str,
    plate: str | None,
    entry_event_id: uuid.UUID,
    entry_at: datetime,
    flags: list[str],
    actor: str,
) -> tuple[uuid.UUID, bool]:
    """The lane let a car in on its own after the server refused or could not read it: the car is inside, so
    it gets a session (counted above capacity if need be), flagged for review. The caller holds the plate lock.

    Returns the session and whether a space was newly counted (False when the plate already had an open
    session: the car is counted once). ``flags`` gains ``over_capacity`` when the count went past capacity.
    """
    if plate is not None:
        existing = await repo.open_for_update(db, lot_id=lot_id, plate=plate)
        if existing is not None:
            return detached(db, existing).id, False
    session_id = new_id()
    # Capacity row first, session second would invert the lock order; the session insert takes no lock on
    # lot_capacities, so count after inserting (vehicles -> parking_sessions -> lot_capacities).
    await repo.insert_session(
        db,
        id=session_id,
        lot_id=lot_id,
        vehicle_class=vehicle_class,
        plate=plate,
        status=SessionStatus.OPEN,
        entry_event_id=entry_event_id,
        entry_at=entry_at,
        flags=flags,
        review_status=ReviewStatus.PENDING,
        review_reason="entry opened by the lane without the server's consent",
    )
    count = await repo.occupy_unguarded(db, lot_id=lot_id, vehicle_class=vehicle_class)
    counted = count is not None
    if count is not None and count[0] > count[1]:
        flags.append("over_capacity")
        await repo.set_flags(db, session_id, flags)
    await audit(
        db,
        actor=actor,
        action="session.open_offline",
        entity="parking_session",
        entity_id=str(session_id),
        data={"plate": plate, "event_id": str(entry_event_id), "flags": flags},
    )
    return session_id, counted


def detached(db: AsyncSession, row: ParkingSession) -> OpenSession:
    # The close is a Core UPDATE: keep no stale ORM copy in this transaction's identity map (code later in the
    # transaction, e.g. the e-invoice built from the session, then reads the closed row from the database).
    sess = OpenSession(
        row.id, row.plate, row.vehicle_class, row.entry_at, list(row.flags or []), row.review_status, row.review_reason
    )
    db.expunge(row)
    return sess


async def find_similar_open(
    db: AsyncSession, *, lot_id: uuid.UUID, plate: str, vehicle_class: str
) -> tuple[OpenSession | None, str | None]:
    """The single best confusable-tolerant match among the lot's open sessions (no exact one exists)."""
    candidates = await repo.open_plates(db, lot_id=lot_id, vehicle_classes=_matchable_classes(vehicle_class))
    m = best_match(plate, candidates)
    if m is None:
        return None, None
    row = await repo.open_for_update(db, lot_id=lot_id, plate=m.plate)
    return (detached(db, row) if row is not None else None), m.plate


async def close(
    db: AsyncSession, sess: OpenSession, closing: dict[str, Any], *, actor: str, audit_data: dict[str, Any]
) -> None:
    """Close a located (locked) session with the given exit facts and fee, audit it and free its space."""
    await repo.close_and_free(db, sess.id, closing, actor=actor, audit=audit_data)
    sess.flags = list(closing["flags"])
    sess.review_status, sess.review_reason = closing["review_status"], closing["review_reason"]


async def get(db: AsyncSession, session_id: uuid.UUID) -> ParkingSession | None:
    return await repo.get(db, session_id)
