"""Gate event rules: idempotent on the device's event id, one open session per plate per lot.

``handle_event`` runs inside the caller's transaction and never commits. It returns the decision for the
lane and the post-commit effects (Redis occupancy mirror, live stream), which the endpoint registers with the
request's unit of work, so Redis never shows a state the database does not hold. An exit that charges a linked
account returns a pending charge: the endpoint commits, calls the provider with no lock held, and
`finish_exit` records the outcome in a second short transaction.
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
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import vnplate
from parking.drivers.wording import exit_lines, local_text, lot_full_lines
from parking.gate import repository as repo
from parking.gate.schemas import Display, GateDecision, GateEventIn, PaymentInfo, SessionStatus
from parking.invoices.service import receipt_url_for_session
from parking.kit import images, money, redis_keys
from parking.kit.errors import AppError
from parking.lanes.auth import LaneInfo
from parking.models import Lot
from parking.models import SessionStatus as SessionState
from parking.payments import exit_hook
from parking.places.service import nearby_with_space
from parking.sessions import fees
from parking.sessions import service as sessions

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
    """What follows from the event besides its decision: Redis occupancy deltas and messages to publish after the
    commit, a linked charge to make after it, and the session's payment status to store with the decision."""

    occupancy: list[tuple[uuid.UUID, str, int]] = field(default_factory=list)
    publish: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # A linked-account charge to make once this transaction has committed (see `finish_exit`).
    charge: PendingExit | None = None
    # The exit's payment status and flags, written on the session with the decision (one statement).
    session_payment: tuple[str, list[str]] | None = None


@dataclass(frozen=True)
class PendingExit:
    """What the exit's second transaction needs once the provider has answered."""

    charge: exit_hook.PendingCharge
    event_id: uuid.UUID
    session_id: uuid.UUID
    fee_vnd: int
    gate_flags: list[str]
    session_flags: list[str]
    lot_id: uuid.UUID
    detail: list[str]  # the exit screen's entry time, stay and breakdown lines


@dataclass
class Outcome:
    decision: GateDecision
    effects: Effects
    replayed: bool

    @property
    def pending_charge(self) -> exit_hook.PendingCharge | None:
        return self.effects.charge.charge if self.effects.charge else None


def request_hash(ev: GateEventIn) -> str:
    body = ev.model_dump(mode="json")
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _fmt_vnd(v: int) -> str:
    return money.vnd(v)


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
        if not images.is_jpeg(image):  # magic bytes alone are not an image
            raise AppError("bad_image", "image_jpeg_b64 is not a JPEG image.", 422)
    return plate, image


async def _replay(db: AsyncSession, ev: GateEventIn, lane: LaneInfo, rhash: str) -> GateDecision:
    row = await repo.stored_answer(db, ev.event_id)
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
    effects = Effects()
    if ev.kind == "entry":
        # One round trip: event insert, plate lock, session and capacity in PostgreSQL (see `_entry`).
        res = await _entry_in_db(db, ev, lane, rules, plate, vclass, rhash, image is not None)
        if not res.inserted:
            return Outcome(await _replay(db, ev, lane, rhash), Effects(), True)
        if image is not None:
            await repo.insert_image(db, ev.event_id, image)
        # A full lot suggests lots near it with spaces (read in this transaction, only when full).
        nearby = await nearby_with_space(db, lane.lot_id, vclass) if res.outcome == "full" else None
        decision = _entry(ev, lane, plate, vclass, res, effects, nearby)
    else:
        # One round trip: the event insert, the per-plate lock (two entries, or an entry racing its exit: the
        # second then sees the first's committed session instead of colliding with it on the unique index),
        # and the plate's exact open session, locked.
        begin = await repo.exit_begin(
            db,
            event_id=ev.event_id,
            lane_id=lane.id,
            lot_id=lane.lot_id,
            plate_read=ev.plate,
            plate=plate,
            confidence=ev.confidence,
            vehicle_class=vclass,
            captured_at=ev.captured_at,
            offline_action=ev.offline_action,
            request_hash=rhash,
            has_image=image is not None,
            find=not (_low_confidence(ev, plate, rules) and ev.offline_action != "opened"),
        )
        if not begin.inserted:
            # Another request with this id committed first (or is committing: the insert waited for it).
            return Outcome(await _replay(db, ev, lane, rhash), Effects(), True)
        if image is not None:
            await repo.insert_image(db, ev.event_id, image)
        decision = await _exit(db, ev, lane, rules, tariffs, plate, vclass, effects, begin.session)

    await repo.set_decision(db, ev.event_id, decision, payment=effects.session_payment)
    effects.publish.append(
        (
            redis_keys.lot_events(lane.lot_id),
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


def lane_action(status: str, payment_status: str | None, flags: list[str] | None) -> str | None:
    """What the exit lane should do for a session it is waiting on (polled after a QR or a pending charge)."""
    if status != SessionState.CLOSED:
        return None
    if "over_deferred_limit" in (flags or []) and payment_status == "charging":
        return "attendant"  # the driver already owes too much to be let out on a background charge
    return "open" if payment_status in {"paid", "free", "charging", "deferred"} else "pay"


async def session_status(
    db: AsyncSession, session_id: uuid.UUID, lane: LaneInfo, public_base_url: str
) -> SessionStatus:
    row = await sessions.get(db, session_id)
    if row is None or row.lot_id != lane.lot_id:
        raise AppError("session_not_found", f"No session {session_id} in lot {lane.lot_code}.", 404)
    return SessionStatus(
        session_id=row.id,
        status=row.status,
        payment_status=row.payment_status,
        action=lane_action(row.status, row.payment_status, row.flags),
        fee_vnd=row.fee_vnd,
        receipt_url=await receipt_url_for_session(db, row.id, public_base_url),
    )


async def stored_decision(db: AsyncSession, event_id: uuid.UUID, lane: LaneInfo) -> GateDecision:
    row = await repo.get(db, event_id)
    if row is None or row.lane_id != lane.id or row.decision is None:
        raise AppError("event_not_found", f"Lane {lane.code} has no event {event_id}.", 404)
    return GateDecision.model_validate(row.decision)


def _low_confidence(ev: GateEventIn, plate: str | None, rules: GateRules) -> bool:
    return plate is None or ev.confidence < rules.min_confidence


async def _entry_in_db(
    db: AsyncSession,
    ev: GateEventIn,
    lane: LaneInfo,
    rules: GateRules,
    plate: str | None,
    vclass: str,
    rhash: str,
    has_image: bool,
) -> repo.EntryResult:
    """The entry's database work in one call of ``gate_entry()`` (migration 0050).

    It applies the session and occupancy rules of `parking.sessions.service` / `parking.occupancy.service`
    in their lock order (vehicles -> parking_sessions -> lot_capacities): a plate already inside had its exit
    missed (closed for review, space freed); the conditional capacity update is the lot's guard; a lane that
    opened offline is counted even above capacity; then the session, its audit row and the plate's open debts.
    """
    flags_after: list[str] = []
    if ev.offline_action:
        flags_after.append("opened_offline")
    if plate is not None and vnplate.normalize(ev.plate or "") != plate:
        flags_after.append("plate_corrected")  # the grammar fixed look-alike characters in the read
    return await repo.entry(
        db,
        event_id=ev.event_id,
        lane_id=lane.id,
        lot_id=lane.lot_id,
        plate_read=ev.plate,
        plate=plate,
        confidence=ev.confidence,
        vehicle_class=vclass,
        captured_at=ev.captured_at,
        offline_action=ev.offline_action,
        request_hash=rhash,
        has_image=has_image,
        proceed=not (_low_confidence(ev, plate, rules) and ev.offline_action is None),
        flags_before=["plate_unreadable"] if plate is None else [],  # opened offline without a read: flag it
        flags_after=flags_after,
        actor=f"lane:{lane.code}",
    )


def _entry(
    ev: GateEventIn,
    lane: LaneInfo,
    plate: str | None,
    vclass: str,
    res: repo.EntryResult,
    effects: Effects,
    nearby: list[dict[str, Any]] | None = None,
) -> GateDecision:
    if res.outcome == "skipped":
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
    if res.stale_class is not None:
        effects.occupancy.append((lane.lot_id, res.stale_class, -1))
    if res.outcome == "not_served":
        raise AppError("vehicle_class_not_served", f"Lot {lane.lot_code} has no spaces for {vclass}.", 422)
    if res.outcome == "full":
        cap = res.capacity
        return GateDecision(
            event_id=ev.event_id,
            session_id=None,
            action="refuse",
            display=Display(
                title="Bãi đã đầy / Lot full",
                lines=lot_full_lines(vclass, cap or 0, nearby or []),
            ),
            flags=["lot_full"],
        )
    effects.occupancy.append((lane.lot_id, vclass, +1))
    flags = list(res.flags)
    parsed = vnplate.parse(plate) if plate else None
    lines = [parsed.canonical if parsed else "?"]
    if res.debt_count:
        flags.append("has_debt")
        lines.append(exit_hook.debt_notice(res.debt_total, res.debt_count))
    return GateDecision(
        event_id=ev.event_id,
        session_id=res.session_id,
        action="open",
        display=Display(title="Xin chào / Welcome", lines=lines),
        flags=flags,
    )


async def _exit(
    db: AsyncSession,
    ev: GateEventIn,
    lane: LaneInfo,
    rules: GateRules,
    tariffs: fees.TariffSource,
    plate: str | None,
    vclass: str,
    effects: Effects,
    exact: sessions.OpenSession | None,
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
    sess, matched = exact, (plate if exact is not None else None)
    if sess is None and plate:
        sess, matched = await sessions.find_similar_open(db, lot_id=lane.lot_id, plate=plate, vehicle_class=vclass)

    if sess is None:
        flags.append("unknown_entry")
        session_id = await sessions.record_unknown_exit(
            db,
            lot_id=lane.lot_id,
            vehicle_class=vclass,
            exit_plate=plate,
            exit_event_id=ev.event_id,
            exit_at=ev.captured_at,
            flags=flags,
            actor=f"lane:{lane.code}",
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
        "status": SessionState.CLOSED,
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
    await sessions.close(
        db,
        sess,
        closing,
        actor=f"lane:{lane.code}",
        audit_data={
            "plate": plate,
            "matched": matched,
            "fee_vnd": fee.total_vnd if fee else None,
            "event_id": str(ev.event_id),
        },
    )
    effects.occupancy.append((lane.lot_id, sess.vehicle_class, -1))

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
        charge_inline=False,  # never call the provider inside this transaction (see `finish_exit`)
    )
    session_flags = list(dict.fromkeys([*sess.flags, *flags]))
    detail = exit_lines(
        local_text(sess.entry_at),
        int((ev.captured_at - sess.entry_at).total_seconds() // 60) if sess.entry_at else None,
        fee.lines,
    )
    if pay.charge is not None:
        effects.charge = PendingExit(
            pay.charge, ev.event_id, sess.id, fee.total_vnd, flags, session_flags, lane.lot_id, detail
        )
    decision, effects.session_payment = await _exit_answer(
        db, ev.event_id, sess.id, fee.total_vnd, flags, session_flags, pay, offline, rules, lane.lot_id, detail
    )
    return decision


async def _exit_answer(
    db: AsyncSession,
    event_id: uuid.UUID,
    session_id: uuid.UUID,
    fee_vnd: int,
    flags: list[str],
    session_flags: list[str],
    pay: exit_hook.ExitPayment,
    offline: bool,
    rules: GateRules,
    lot_id: uuid.UUID,
    detail: list[str],
) -> tuple[GateDecision, tuple[str, list[str]]]:
    """The lane's answer to a priced exit, and the session's payment status and flags to store with it."""
    session_payment = (pay.payment_status, list(dict.fromkeys([*session_flags, *pay.flags])))
    action = "open" if offline else pay.action
    payment = PaymentInfo(**pay.payment) if pay.payment else None
    if payment is not None:
        policy = (await db.execute(select(Lot.qr_lane_wait_s, Lot.unpaid_qr_policy).where(Lot.id == lot_id))).one()
        payment.lane_wait_s, payment.on_timeout = int(policy.qr_lane_wait_s), str(policy.unpaid_qr_policy)
    receipt = None
    if pay.payment_status == "paid":  # charged at once: the e-invoice code was assigned in this transaction
        receipt = await receipt_url_for_session(db, session_id, rules.public_base_url)
    decision = GateDecision(
        event_id=event_id,
        session_id=session_id,
        action=action,
        display=Display(title=pay.display_title, lines=[_fmt_vnd(fee_vnd), *detail, *pay.display_lines]),
        fee_vnd=fee_vnd,
        payment=payment,
        receipt_url=receipt,
        flags=[*flags, *pay.flags],
    )
    return decision, session_payment


async def finish_exit(db: AsyncSession, outcome: Outcome, result: Any, rules: GateRules) -> Outcome:
    """The exit's second short transaction: record the provider's answer, and the lane's final decision.

    The first transaction (event, closed session, freed space, payment + its outbox completion, a provisional
    decision) is committed before the provider is called, so no lock is held across the call; a crash in
    between leaves the provisional decision (as if the answer were lost) and the outbox finishes the charge.
    """
    pe = outcome.effects.charge
    assert pe is not None
    pay = await exit_hook.record_charge(db, pe.charge, result)
    decision, session_payment = await _exit_answer(
        db,
        pe.event_id,
        pe.session_id,
        pe.fee_vnd,
        pe.gate_flags,
        pe.session_flags,
        pay,
        False,
        rules,
        pe.lot_id,
        pe.detail,
    )
    await repo.set_decision(db, pe.event_id, decision, payment=session_payment)
    for _, message in outcome.effects.publish:
        if message.get("event_id") == str(pe.event_id):
            message.update(action=decision.action, flags=decision.flags)
    return Outcome(decision, outcome.effects, False)
