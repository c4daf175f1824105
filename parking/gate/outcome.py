"""What a lane did on its own, reported after the event itself (``POST /v1/gate/events/{id}/outcome``).

A lane that could not hear the server's answer decides locally (e.g. it opens for a car it may let out). The
event body it sent is never rewritten (its request hash is the event's identity: a rewritten body would be a
409 conflict forever); the local outcome is a separate fact, applied here once:
- entry refused/unanswered but the lane opened: the car is inside, so its session is opened (over capacity if
  need be) and flagged ``opened_offline``;
- exit answered "pay" or "attendant" but the lane opened: the car has left, so what the session still owes
  becomes a debt; an exit the server could not match is recorded as the offline exit it was.

Runs in the caller's transaction and never commits; returns the post-commit effects like ``handle_event``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parking.audit.service import record as audit
from parking.gate import service as gate
from parking.gate.schemas import GateEventIn, OutcomeIn, OutcomeOut
from parking.kit.errors import AppError
from parking.lanes.auth import LaneInfo
from parking.models import GateEvent, ParkingSession
from parking.models.base import table
from parking.payments.service import record_debt
from parking.sessions import fees
from parking.sessions import repository as sessions_repo
from parking.sessions import service as sessions

UNPAID = {"awaiting_qr", "none", "unpaid", "charging"}


@dataclass
class OutcomeResult:
    answer: OutcomeOut
    effects: gate.Effects


async def _session_state(db: AsyncSession, session_id: uuid.UUID | None) -> tuple[str | None, str | None]:
    if session_id is None:
        return None, None
    row = (
        await db.execute(
            select(ParkingSession.status, ParkingSession.payment_status).where(ParkingSession.id == session_id)
        )
    ).one_or_none()
    return (row.status, row.payment_status) if row else (None, None)


async def record_outcome(
    db: AsyncSession,
    event_id: uuid.UUID,
    body: OutcomeIn,
    lane: LaneInfo,
    rules: gate.GateRules,
    tariffs: fees.TariffSource,
) -> OutcomeResult:
    row = (await db.execute(select(GateEvent).where(GateEvent.id == event_id).with_for_update())).scalar_one_or_none()
    if row is None or row.lane_id != lane.id or row.decision is None:
        raise AppError(
            "event_not_found",
            f"Lane {lane.code} has no event {event_id}; send the event before its outcome.",
            404,
            {"event_id": str(event_id)},
        )
    effects = gate.Effects()
    if row.offline_action is not None:  # already recorded: the same answer, no second effect
        status, pay = await _session_state(db, row.session_id)
        return OutcomeResult(
            OutcomeOut(
                event_id=event_id,
                session_id=row.session_id,
                session_status=status,
                payment_status=pay,
                flags=[],
                replayed=True,
            ),
            effects,
        )

    action = str(row.decision.get("action"))
    flags: list[str] = []
    session_id = row.session_id
    if action != "open":
        if session_id is None:
            # The server kept no session for this event (unread plate, lot full, no matching entry): apply the
            # event as the offline-opened event it turned out to be, with the gate's own rules.
            ev = GateEventIn(
                event_id=row.id,
                kind=row.kind,
                plate=row.plate_read,
                confidence=row.confidence,
                captured_at=row.captured_at,
                vehicle_class=row.vehicle_class,
                offline_action="opened",
            )
            if row.plate is not None:
                await db.execute(
                    select(func.pg_advisory_xact_lock(func.hashtextextended(f"{lane.lot_id}:{row.plate}", 0)))
                )
            if row.kind == "entry":
                flags = ["opened_offline"] + (["plate_unreadable"] if row.plate is None else [])
                session_id, counted = await sessions.open_after_offline_entry(
                    db,
                    lot_id=lane.lot_id,
                    vehicle_class=row.vehicle_class,
                    plate=row.plate,
                    entry_event_id=row.id,
                    entry_at=row.captured_at,
                    flags=flags,
                    actor=f"lane:{lane.code}",
                )
                if counted:
                    effects.occupancy.append((lane.lot_id, row.vehicle_class, +1))
            else:
                exact = None
                if row.plate is not None:
                    found = await sessions_repo.open_for_update(db, lot_id=lane.lot_id, plate=row.plate)
                    exact = sessions.detached(db, found) if found is not None else None
                decision = await gate._exit(db, ev, lane, rules, tariffs, row.plate, row.vehicle_class, effects, exact)
                session_id = decision.session_id
                flags = list(decision.flags)
        elif row.kind == "exit":
            # The car left without paying at the lane: what the session still owes is a debt (none if it paid).
            status, pay = await _session_state(db, session_id)
            if pay in UNPAID:
                debt = await record_debt(db, session_id=session_id, reason="lane_offline")
                if debt is not None:
                    flags.append("debt_recorded")
            await db.execute(
                update(table(ParkingSession))
                .where(ParkingSession.id == session_id)
                .values(flags=func.array_append(ParkingSession.flags, "opened_offline"), updated_at=func.now())
            )
            flags.append("opened_offline")
    await db.execute(
        update(table(GateEvent))
        .where(GateEvent.id == event_id)
        .values(offline_action=body.outcome, session_id=session_id)
    )
    await audit(
        db,
        actor=f"lane:{lane.code}",
        action="gate.offline_outcome",
        entity="gate_event",
        entity_id=str(event_id),
        data={"outcome": body.outcome, "server_action": action, "lane_flags": body.flags, "flags": flags},
    )
    status, pay = await _session_state(db, session_id)
    return OutcomeResult(
        OutcomeOut(
            event_id=event_id,
            session_id=session_id,
            session_status=status,
            payment_status=pay,
            flags=flags,
            replayed=False,
        ),
        effects,
    )
