"""Gate event rules: idempotent on the device's event id, one open session per plate per lot.

``handle_event`` runs inside the caller's transaction and never commits. It returns the decision for the
lane and the post-commit effects (Redis occupancy mirror, live stream), which the endpoint applies only
after the commit succeeded, so Redis never shows a state the database does not hold.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import structlog
from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

import vnplate
from parking.audit.service import record as audit
from parking.gate.schemas import Display, GateDecision, GateEventIn, PaymentInfo
from parking.invoices.service import receipt_url_for_session
from parking.kit.errors import AppError
from parking.lanes.auth import LaneInfo
from parking.models import GateEvent, GateEventImage, LotCapacity, ParkingSession, Vehicle
from parking.models.base import table
from parking.payments import exit_hook
from parking.sessions import fees
from parking.sessions.matching import best_match

log = structlog.get_logger("parking.gate")


@dataclass
class GateRules:
    min_confidence: float = 0.5
    max_future_skew_s: int = 300
    max_event_age_days: int = 30
    max_image_bytes: int = 512 * 1024
    public_base_url: str = "http://127.0.0.1:8000"


@dataclass
class Effects:
    """What to tell Redis after the commit: occupancy deltas and messages to publish."""

    occupancy: list[tuple[uuid.UUID, str, int]] = field(default_factory=list)
    publish: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


@dataclass
class Outcome:
    decision: GateDecision
    effects: Effects
    replayed: bool


def request_hash(ev: GateEventIn) -> str:
    body = ev.model_dump(mode="json")
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _fmt_vnd(v: int) -> str:
    return f"{v:,}".replace(",", ".") + " đ"


def validate(ev: GateEventIn, lane: LaneInfo, rules: GateRules, now: datetime) -> tuple[str | None, bytes | None]:
    """Checks the schema cannot express. Returns (normalised plate or None, decoded image or None)."""
    if ev.kind != lane.direction:
        raise AppError(
            "wrong_direction",
            f"Lane {lane.code} is an {lane.direction} lane; it cannot post an {ev.kind} event.",
            422,
            {"lane": lane.code, "direction": lane.direction},
        )
    captured = ev.captured_at.astimezone(UTC)
    if captured > now + timedelta(seconds=rules.max_future_skew_s):
        raise AppError(
            "time_in_future",
            f"captured_at {ev.captured_at.isoformat()} is more than {rules.max_future_skew_s} s ahead of the server "
            f"clock ({now.isoformat()}); check the lane's clock.",
            422,
            {"captured_at": ev.captured_at.isoformat(), "server_time": now.isoformat()},
        )
    if captured < now - timedelta(days=rules.max_event_age_days):
        raise AppError(
            "time_too_old",
            f"captured_at {ev.captured_at.isoformat()} is older than {rules.max_event_age_days} days.",
            422,
        )
    if (
        ev.vehicle_class
        and ev.vehicle_class != lane.vehicle_class
        and {ev.vehicle_class, lane.vehicle_class}
        - {
            "car_small",
            "car_large",
        }
    ):
        raise AppError(
            "wrong_vehicle_class",
            f"Lane {lane.code} serves {lane.vehicle_class}; it cannot admit a {ev.vehicle_class}.",
            422,
        )
    plate: str | None = None
    if ev.plate is not None and ev.plate.strip():
        parsed = vnplate.parse(ev.plate)
        # A raw read with look-alike characters in the wrong place (30G-5O6.I8) is still a plate: the grammar
        # fixes it by position, and the session it reaches is marked for review (see _exit / _entry).
        fixed = parsed.norm if parsed is not None else (vnplate.correct(ev.plate) or (None, 0.0))[0]
        if fixed is None:
            raise AppError(
                "malformed_plate",
                f"'{ev.plate}' is not a Vietnamese plate (expected e.g. '30A-123.45' or '29-B1 123.45').",
                422,
                {"plate": ev.plate},
            )
        plate = fixed
    image: bytes | None = None
    if ev.image_jpeg_b64:
        if len(ev.image_jpeg_b64) > (rules.max_image_bytes * 4) // 3 + 8:
            raise AppError(
                "image_too_large",
                f"The image is larger than {rules.max_image_bytes // 1024} KiB.",
                413,
                {"max_bytes": rules.max_image_bytes},
            )
        try:
            image = base64.b64decode(ev.image_jpeg_b64, validate=True)
        except (binascii.Error, ValueError):
            raise AppError("bad_image", "image_jpeg_b64 is not valid base64.", 422) from None
        if len(image) > rules.max_image_bytes:
            raise AppError(
                "image_too_large",
                f"The image is larger than {rules.max_image_bytes // 1024} KiB.",
                413,
                {"max_bytes": rules.max_image_bytes, "bytes": len(image)},
            )
    return plate, image


async def _replay(db: AsyncSession, ev: GateEventIn, lane: LaneInfo, rhash: str) -> GateDecision:
    row = (
        await db.execute(
            select(GateEvent.lane_id, GateEvent.request_hash, GateEvent.decision).where(GateEvent.id == ev.event_id)
        )
    ).one()
    if row.lane_id != lane.id or row.request_hash != rhash:
        raise AppError(
            "event_id_conflict",
            f"Event {ev.event_id} was already received with different content; a device must mint a new id per event.",
            409,
        )
    decision = GateDecision.model_validate(row.decision)
    decision.replayed = True
    return decision


async def handle_event(
    db: AsyncSession, ev: GateEventIn, lane: LaneInfo, rules: GateRules, tariffs: fees.TariffSource, now: datetime
) -> Outcome:
    plate, image = validate(ev, lane, rules, now)
    rhash = request_hash(ev)
    vclass = ev.vehicle_class or lane.vehicle_class
    inserted = (
        await db.execute(
            insert(table(GateEvent))
            .values(
                id=ev.event_id,
                lane_id=lane.id,
                lot_id=lane.lot_id,
                kind=ev.kind,
                plate_read=ev.plate,
                plate=plate,
                confidence=ev.confidence,
                vehicle_class=vclass,
                captured_at=ev.captured_at,
                offline_action=ev.offline_action,
                request_hash=rhash,
                has_image=image is not None,
            )
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(GateEvent.id)
        )
    ).scalar_one_or_none()
    if inserted is None:
        # Another request with this id committed first (or is committing: the insert waited for it).
        return Outcome(await _replay(db, ev, lane, rhash), Effects(), True)

    if image is not None:
        await db.execute(insert(table(GateEventImage)).values(event_id=ev.event_id, data=image))
    if plate is not None:
        # Serialise events of one plate in one lot (two entries, or an entry racing its exit): the second
        # then sees the first's committed session instead of colliding with it on the unique index.
        await db.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(f"{lane.lot_id}:{plate}", 0))))

    effects = Effects()
    if ev.kind == "entry":
        decision = await _entry(db, ev, lane, rules, plate, vclass, effects)
    else:
        decision = await _exit(db, ev, lane, rules, tariffs, plate, vclass, effects)

    await db.execute(
        update(table(GateEvent))
        .where(GateEvent.id == ev.event_id)
        .values(decision=decision.model_dump(mode="json"), session_id=decision.session_id)
    )
    effects.publish.append(
        (
            f"lot:{lane.lot_id}:events",
            {
                "event_id": str(ev.event_id),
                "lane": lane.code,
                "kind": ev.kind,
                "plate": plate,
                "action": decision.action,
                "flags": decision.flags,
                "at": ev.captured_at.isoformat(),
            },
        )
    )
    return Outcome(decision, effects, False)


def _low_confidence(ev: GateEventIn, plate: str | None, rules: GateRules) -> bool:
    return plate is None or ev.confidence < rules.min_confidence


async def _entry(
    db: AsyncSession,
    ev: GateEventIn,
    lane: LaneInfo,
    rules: GateRules,
    plate: str | None,
    vclass: str,
    effects: Effects,
) -> GateDecision:
    if _low_confidence(ev, plate, rules) and ev.offline_action is None:
        return GateDecision(
            event_id=ev.event_id,
            session_id=None,
            action="attendant",
            display=Display(
                title="Vui lòng chờ nhân viên / Please wait for the attendant",
                lines=["Không đọc được biển số / Plate not read"],
            ),
            flags=["plate_unreadable"],
        )
    flags: list[str] = []
    if plate is None:  # opened offline without a read: keep the fact, flag it
        flags.append("plate_unreadable")
    # Lock order everywhere: vehicles -> parking_sessions -> lot_capacities (exits take sessions first too),
    # so concurrent entries and exits of one plate cannot deadlock.
    if plate is not None:
        await db.execute(insert(table(Vehicle)).values(plate=plate, vehicle_class=vclass).on_conflict_do_nothing())
        # A plate already inside means its exit was missed: close that stay for review, never block the gate.
        stale = (
            await db.execute(
                update(table(ParkingSession))
                .where(
                    ParkingSession.lot_id == lane.lot_id, ParkingSession.plate == plate, ParkingSession.status == "open"
                )
                .values(
                    status="closed",
                    flags=func.array_append(ParkingSession.flags, "exit_missing"),
                    review_status="pending",
                    review_reason="re-entered without an exit",
                    updated_at=func.now(),
                )
                .returning(ParkingSession.id, ParkingSession.vehicle_class)
            )
        ).one_or_none()
        if stale is not None:
            flags.append("previous_stay_without_exit")
            await db.execute(
                update(table(LotCapacity))
                .where(LotCapacity.lot_id == lane.lot_id, LotCapacity.vehicle_class == stale.vehicle_class)
                .values(occupied=func.greatest(LotCapacity.occupied - 1, 0))
            )
            effects.occupancy.append((lane.lot_id, stale.vehicle_class, -1))

    # Occupancy guard in the database: the conditional update is the lot's capacity check.
    occ = (
        await db.execute(
            update(table(LotCapacity))
            .where(
                LotCapacity.lot_id == lane.lot_id,
                LotCapacity.vehicle_class == vclass,
                LotCapacity.occupied < LotCapacity.capacity,
            )
            .values(occupied=LotCapacity.occupied + 1)
            .returning(LotCapacity.occupied, LotCapacity.capacity)
        )
    ).one_or_none()
    if occ is None:
        cap = (
            await db.execute(
                select(LotCapacity.capacity).where(
                    LotCapacity.lot_id == lane.lot_id, LotCapacity.vehicle_class == vclass
                )
            )
        ).scalar_one_or_none()
        if cap is None:
            raise AppError("vehicle_class_not_served", f"Lot {lane.lot_code} has no spaces for {vclass}.", 422)
        if ev.offline_action is None:
            return GateDecision(
                event_id=ev.event_id,
                session_id=None,
                action="refuse",
                display=Display(
                    title="Bãi đã đầy / Lot full",
                    lines=[f"Hết chỗ cho {vclass} ({cap}/{cap})", "Please try another lot"],
                ),
                flags=["lot_full"],
            )
        # The car is already inside (the lane opened offline): record the fact even above capacity.
        await db.execute(
            update(table(LotCapacity))
            .where(LotCapacity.lot_id == lane.lot_id, LotCapacity.vehicle_class == vclass)
            .values(occupied=LotCapacity.occupied + 1)
        )
        flags.append("over_capacity")
    effects.occupancy.append((lane.lot_id, vclass, +1))

    session_id = uuid.uuid4()
    if ev.offline_action:
        flags.append("opened_offline")
    if plate is not None and vnplate.normalize(ev.plate or "") != plate:
        flags.append("plate_corrected")  # the grammar fixed look-alike characters in the read
    await db.execute(
        insert(table(ParkingSession)).values(
            id=session_id,
            lot_id=lane.lot_id,
            vehicle_class=vclass,
            plate=plate,
            status="open",
            entry_event_id=ev.event_id,
            entry_at=ev.captured_at,
            flags=flags,
            review_status="pending" if "plate_unreadable" in flags else "none",
        )
    )
    await audit(
        db,
        actor=f"lane:{lane.code}",
        action="session.open",
        entity="parking_session",
        entity_id=str(session_id),
        data={"plate": plate, "event_id": str(ev.event_id)},
    )
    lines = [vnplate.parse(plate).canonical if plate and vnplate.parse(plate) else "?"]  # type: ignore[union-attr]
    notice = await exit_hook.entry_notice(db, lot_id=lane.lot_id, plate_norm=plate) if plate else None
    if notice:
        flags.append("has_debt")
        lines.append(notice)
    return GateDecision(
        event_id=ev.event_id,
        session_id=session_id,
        action="open",
        display=Display(title="Xin chào / Welcome", lines=lines),
        flags=flags,
    )


async def _find_open_session(
    db: AsyncSession, lane: LaneInfo, plate: str, vclass: str
) -> tuple[ParkingSession | None, str | None]:
    """Exact plate first; otherwise the single best confusable-tolerant match. Returns (session, matched_plate)."""
    exact = (
        await db.execute(
            select(ParkingSession)
            .where(ParkingSession.lot_id == lane.lot_id, ParkingSession.plate == plate, ParkingSession.status == "open")
            .with_for_update()
        )
    ).scalar_one_or_none()
    if exact is not None:
        return exact, plate
    candidates = (
        await db.execute(
            select(ParkingSession.plate).where(
                ParkingSession.lot_id == lane.lot_id,
                ParkingSession.status == "open",
                ParkingSession.plate.is_not(None),
                ParkingSession.vehicle_class.in_(["car_small", "car_large"] if vclass.startswith("car") else [vclass]),
            )
        )
    ).scalars()
    m = best_match(plate, (c for c in candidates if c))
    if m is None:
        return None, None
    sess = (
        await db.execute(
            select(ParkingSession)
            .where(
                and_(
                    ParkingSession.lot_id == lane.lot_id,
                    ParkingSession.plate == m.plate,
                    ParkingSession.status == "open",
                )
            )
            .with_for_update()
        )
    ).scalar_one_or_none()
    return sess, m.plate


async def _exit(
    db: AsyncSession,
    ev: GateEventIn,
    lane: LaneInfo,
    rules: GateRules,
    tariffs: fees.TariffSource,
    plate: str | None,
    vclass: str,
    effects: Effects,
) -> GateDecision:
    offline = ev.offline_action == "opened"
    if _low_confidence(ev, plate, rules) and not offline:
        return GateDecision(
            event_id=ev.event_id,
            session_id=None,
            action="attendant",
            display=Display(
                title="Vui lòng chờ nhân viên / Please wait for the attendant",
                lines=["Không đọc được biển số / Plate not read"],
            ),
            flags=["plate_unreadable"],
        )
    flags: list[str] = ["opened_offline"] if offline else []
    sess, matched = (await _find_open_session(db, lane, plate, vclass)) if plate else (None, None)

    if sess is None:
        # Exit with no matching entry: keep the fact as a flagged session; a person decides the fee.
        session_id = uuid.uuid4()
        flags.append("unknown_entry")
        await db.execute(
            insert(table(ParkingSession)).values(
                id=session_id,
                lot_id=lane.lot_id,
                vehicle_class=vclass,
                plate=None,
                exit_plate=plate,
                status="closed",
                exit_event_id=ev.event_id,
                exit_at=ev.captured_at,
                flags=flags,
                review_status="pending",
                review_reason="exit without a matching entry",
            )
        )
        await audit(
            db,
            actor=f"lane:{lane.code}",
            action="session.unknown_entry",
            entity="parking_session",
            entity_id=str(session_id),
            data={"plate": plate, "event_id": str(ev.event_id)},
        )
        return GateDecision(
            event_id=ev.event_id,
            session_id=session_id,
            action="open" if offline else "attendant",
            display=Display(
                title="Vui lòng chờ nhân viên / Please wait for the attendant",
                lines=["Không tìm thấy lượt vào / No entry found for this plate"],
            ),
            flags=flags,
        )

    review_reason = None
    raw = vnplate.normalize(ev.plate or "")
    if matched != raw:  # corrected by the grammar, or matched with one character wrong: a person confirms
        flags.append("plate_mismatch")
        review_reason = f"exit read {raw}, matched open session {matched}"
    entry_at = sess.entry_at
    fee: fees.Fee | None = None
    if entry_at is not None:
        pass_ = await exit_hook.active_pass(db, plate_norm=sess.plate or "", lot_id=lane.lot_id, at=ev.captured_at)
        fee = fees.compute(tariffs, lane, sess.vehicle_class, entry_at, ev.captured_at, pass_)
    if fee is None:
        flags.append("fee_unknown")

    closing = {
        "status": "closed",
        "exit_event_id": ev.event_id,
        "exit_at": ev.captured_at,
        "exit_plate": raw if matched != raw else None,
        "flags": list(dict.fromkeys([*sess.flags, *flags])),
        "review_status": "pending" if review_reason or fee is None else sess.review_status,
        "review_reason": review_reason or sess.review_reason,
        "fee_vnd": fee.total_vnd if fee else None,
        "fee_lines": fee.lines if fee else None,
        "tariff_id": fee.tariff_id if fee else None,
        "tariff_version": fee.tariff_version if fee else None,
    }
    await db.execute(
        update(table(ParkingSession)).where(ParkingSession.id == sess.id).values(**closing, updated_at=func.now())
    )
    # The Core UPDATE bypassed the ORM: mirror it on the loaded row (no extra round trip), so code later in this
    # transaction (payments, the e-invoice built from the session) sees the exit time, fee and tariff.
    for key, value in closing.items():
        set_committed_value(sess, key, value)
    await db.execute(
        update(table(LotCapacity))
        .where(LotCapacity.lot_id == lane.lot_id, LotCapacity.vehicle_class == sess.vehicle_class)
        .values(occupied=func.greatest(LotCapacity.occupied - 1, 0))
    )
    effects.occupancy.append((lane.lot_id, sess.vehicle_class, -1))
    await audit(
        db,
        actor=f"lane:{lane.code}",
        action="session.close",
        entity="parking_session",
        entity_id=str(sess.id),
        data={
            "plate": plate,
            "matched": matched,
            "fee_vnd": fee.total_vnd if fee else None,
            "event_id": str(ev.event_id),
        },
    )

    if fee is None:
        return GateDecision(
            event_id=ev.event_id,
            session_id=sess.id,
            action="open" if offline else "attendant",
            display=Display(
                title="Vui lòng chờ nhân viên / Please wait for the attendant",
                lines=["Không tính được phí / Fee could not be computed"],
            ),
            flags=flags,
        )
    pay = await exit_hook.decide_exit(
        db,
        exit_hook.ExitContext(
            session_id=sess.id,
            lot_id=lane.lot_id,
            lane_id=lane.id,
            plate_norm=sess.plate,
            vehicle_class=sess.vehicle_class,
            fee_vnd=fee.total_vnd,
            exited_at=ev.captured_at,
            offline=offline,
            exit_read=ev.plate,
            read_confidence=ev.confidence,
        ),
    )
    await db.execute(
        update(table(ParkingSession))
        .where(ParkingSession.id == sess.id)
        .values(
            payment_status=pay.payment_status,
            flags=list(dict.fromkeys([*sess.flags, *flags, *pay.flags])),
        )
    )
    action = "open" if offline else pay.action
    payment = PaymentInfo(**pay.payment) if pay.payment else None
    receipt = None
    if pay.payment_status == "paid":  # charged at once: the e-invoice code was assigned in this transaction
        receipt = await receipt_url_for_session(db, sess.id, rules.public_base_url)
    return GateDecision(
        event_id=ev.event_id,
        session_id=sess.id,
        action=action,
        display=Display(title=pay.display_title, lines=[_fmt_vnd(fee.total_vnd), *pay.display_lines]),
        fee_vnd=fee.total_vnd,
        payment=payment,
        receipt_url=receipt,
        flags=[*flags, *pay.flags],
    )
