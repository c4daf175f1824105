"""The parking session's lifecycle: open at entry, find at exit, close (priced or for review), correct.

Runs inside the caller's transaction and never commits. Lock order everywhere: vehicles -> parking_sessions
-> lot_capacities (the gate takes the session row before it touches the lot's counters), so concurrent
entries and exits of one plate cannot deadlock.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from parking.audit.service import record as audit
from parking.models import ParkingSession
from parking.sessions import repository as repo
from parking.sessions.matching import best_match

CAR_CLASSES = ("car_small", "car_large")


def _matchable_classes(vehicle_class: str) -> tuple[str, ...]:
    """A car read at the exit may have entered as the other car size; other classes match only themselves."""
    return CAR_CLASSES if vehicle_class.startswith("car") else (vehicle_class,)


async def ensure_vehicle(db: AsyncSession, plate: str, vehicle_class: str) -> None:
    await repo.ensure_vehicle(db, plate, vehicle_class)


async def close_missed_stay(db: AsyncSession, *, lot_id: uuid.UUID, plate: str) -> str | None:
    """A plate entering while already inside means its exit was missed: close that stay for review.

    Returns the vehicle class of the stay closed (its space is freed by the caller), or None.
    """
    return await repo.close_open_for_review(
        db, lot_id=lot_id, plate=plate, flag="exit_missing", reason="re-entered without an exit"
    )


async def open_session(
    db: AsyncSession,
    *,
    lot_id: uuid.UUID,
    vehicle_class: str,
    plate: str | None,
    entry_event_id: uuid.UUID,
    entry_at: datetime,
    flags: list[str],
    actor: str,
) -> uuid.UUID:
    session_id = uuid.uuid4()
    await repo.insert_session(
        db,
        id=session_id,
        lot_id=lot_id,
        vehicle_class=vehicle_class,
        plate=plate,
        status="open",
        entry_event_id=entry_event_id,
        entry_at=entry_at,
        flags=flags,
        review_status="pending" if "plate_unreadable" in flags else "none",
    )
    await audit(
        db,
        actor=actor,
        action="session.open",
        entity="parking_session",
        entity_id=str(session_id),
        data={"plate": plate, "event_id": str(entry_event_id)},
    )
    return session_id


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
    session_id = uuid.uuid4()
    await repo.insert_session(
        db,
        id=session_id,
        lot_id=lot_id,
        vehicle_class=vehicle_class,
        plate=None,
        exit_plate=exit_plate,
        status="closed",
        exit_event_id=exit_event_id,
        exit_at=exit_at,
        flags=flags,
        review_status="pending",
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


async def find_open(
    db: AsyncSession, *, lot_id: uuid.UUID, plate: str, vehicle_class: str
) -> tuple[ParkingSession | None, str | None]:
    """Exact plate first; otherwise the single best confusable-tolerant match. Returns (locked session, plate)."""
    exact = await repo.open_for_update(db, lot_id=lot_id, plate=plate)
    if exact is not None:
        return exact, plate
    candidates = await repo.open_plates(db, lot_id=lot_id, vehicle_classes=_matchable_classes(vehicle_class))
    m = best_match(plate, candidates)
    if m is None:
        return None, None
    return await repo.open_for_update(db, lot_id=lot_id, plate=m.plate), m.plate


async def close(
    db: AsyncSession, sess: ParkingSession, closing: dict[str, Any], *, actor: str, audit_data: dict[str, Any]
) -> None:
    """Close a located (locked) session with the given exit facts and fee."""
    await repo.update_session(db, sess.id, **closing, updated_at=func.now())
    # The Core UPDATE bypassed the ORM: mirror it on the loaded row (no extra round trip), so code later in this
    # transaction (payments, the e-invoice built from the session) sees the exit time, fee and tariff.
    for key, value in closing.items():
        set_committed_value(sess, key, value)
    await audit(
        db, actor=actor, action="session.close", entity="parking_session", entity_id=str(sess.id), data=audit_data
    )


async def record_payment_status(
    db: AsyncSession, session_id: uuid.UUID, *, payment_status: str, flags: list[str]
) -> None:
    await repo.update_session(db, session_id, payment_status=payment_status, flags=flags)


async def get(db: AsyncSession, session_id: uuid.UUID) -> ParkingSession | None:
    return await repo.get(db, session_id)
