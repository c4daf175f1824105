"""Console business rules: what a staff member sees, and the actions they take (review, override, alerts).
Never commits; every action is audited."""

from __future__ import annotations

import difflib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parking.audit.service import record
from parking.console import repository as repo
from parking.disputes import service as disputes_service
from parking.kit import outbox
from parking.kit.errors import AppError
from parking.ledger import repository as ledger_repo
from parking.ledger import rules as ledger
from parking.models import ConsoleAlert, Debt, LaneOverride, Lot, ParkingSession
from parking.models.base import new_id
from parking.occupancy.service import lot_snapshot
from parking.payments import service as payments
from parking.pricing import PricingError, TariffBook, quote
from parking.staff.service import Staff
from vnplate import normalize

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
LOW_CONFIDENCE = 0.8


def local_midnight(now: datetime) -> datetime:
    return now.astimezone(HANOI).replace(hour=0, minute=0, second=0, microsecond=0)


# ---------------------------------------------------------------- what the operator console shows


async def occupancy(db: AsyncSession, redis: Redis, staff: Staff) -> list[dict[str, Any]]:
    return [lot for lot in await lot_snapshot(db, redis) if uuid.UUID(lot["lot_id"]) in staff.lot_ids]


def map_points(lots: list[Lot], width: int = 640, height: int = 360, pad: int = 40) -> list[dict[str, Any]]:
    """Lots placed on a plan by their coordinates (equirectangular; a city is small enough): no tile server."""
    if not lots:
        return []
    lats = [float(lot.latitude) for lot in lots]
    lons = [float(lot.longitude) for lot in lots]
    span_lat = max(max(lats) - min(lats), 0.002)
    span_lon = max(max(lons) - min(lons), 0.002)
    out = []
    for lot, lat, lon in zip(lots, lats, lons, strict=True):
        x = pad + (lon - min(lons)) / span_lon * (width - 2 * pad) if len(lots) > 1 else width / 2
        y = height - pad - (lat - min(lats)) / span_lat * (height - 2 * pad) if len(lots) > 1 else height / 2
        out.append({"id": str(lot.id), "code": lot.code, "name": lot.name, "x": round(x), "y": round(y)})
    return out


async def day_chart(db: AsyncSession, staff: Staff, now: datetime) -> dict[str, Any]:
    start = local_midnight(now)
    series: dict[str, list[int]] = {}
    for row in await repo.hourly_occupancy(db, staff.lot_ids, start):
        series.setdefault(row.code, [0] * 24)[row.hour] = int(row.n)
    current = now.astimezone(HANOI).hour
    return {
        "labels": [f"{h:02d}:00" for h in range(1, 25)],
        "series": {code: values[: current + 1] for code, values in series.items()},
    }


async def lane_health(db: AsyncSession, redis: Redis, staff: Staff, now: datetime) -> list[dict[str, Any]]:
    rows = await repo.lanes(db, staff.lot_ids)
    last = await repo.last_events_per_lane(db, [lane.id for lane, _ in rows])
    out = []
    for lane, lot_code in rows:
        raw = await redis.get(f"lane:{lane.id}:hb")
        hb = orjson.loads(raw) if raw else (lane.last_heartbeat or {})
        ev = last.get(lane.id)
        out.append(
            {
                "id": str(lane.id),
                "lot_id": str(lane.lot_id),
                "lot": lot_code,
                "code": lane.code,
                "direction": lane.direction,
                "online": raw is not None,
                "last_seen_at": lane.last_seen_at,
                "fps": hb.get("fps"),
                "queue_depth": hb.get("queue_depth"),
                "camera_ok": hb.get("camera_ok"),
                "last_event": ev,
                "latency_ms": round((ev.received_at - ev.captured_at).total_seconds() * 1000) if ev else None,
            }
        )
    return out


def feed_item(ev: Any, lane_code: str, lot_code: str) -> dict[str, Any]:
    decision = ev.decision or {}
    return {
        "id": str(ev.id),
        "lot": lot_code,
        "lane": lane_code,
        "kind": ev.kind,
        "plate": ev.plate or ev.plate_read or "?",
        "confidence": ev.confidence,
        "low": ev.confidence < LOW_CONFIDENCE,
        "action": decision.get("action"),
        "flags": decision.get("flags", []),
        "at": ev.captured_at,
        "has_image": ev.has_image,
    }


async def feed(db: AsyncSession, staff: Staff, now: datetime, limit: int = 25) -> list[dict[str, Any]]:
    rows = await repo.recent_events(db, staff.lot_ids, limit, now - timedelta(days=2))
    return [feed_item(ev, lane_code, lot_code) for ev, lane_code, lot_code in rows]


async def feed_event(db: AsyncSession, staff: Staff, event_id: uuid.UUID) -> dict[str, Any] | None:
    row = await repo.event_with_codes(db, event_id)
    if row is None or not staff.sees(row[0].lot_id):
        return None
    return feed_item(*row)


async def event_image(db: AsyncSession, staff: Staff, event_id: uuid.UUID) -> tuple[bytes, str]:
    found = await repo.event_image(db, event_id)
    if found is None or not staff.sees(found[0]):
        raise AppError("image_not_found", "No image for this event here.", 404)
    return found[1], found[2]


# ---------------------------------------------------------------- review queue


async def review_queue(db: AsyncSession, staff: Staff) -> list[dict[str, Any]]:
    rows = await repo.review_sessions(db, staff.lot_ids)
    ids = [i for s, *_ in rows for i in (s.entry_event_id, s.exit_event_id) if i]
    events = await repo.events_by_ids(db, ids)
    out = []
    for sess, lot_code, _tariff, _zone in rows:
        entry = events.get(sess.entry_event_id) if sess.entry_event_id else None
        exit_ = events.get(sess.exit_event_id) if sess.exit_event_id else None
        kinds = review_kinds(sess, entry, exit_)
        candidates = []
        if "unknown_entry" in kinds and sess.exit_plate and sess.status == "closed":
            candidates = await merge_candidates(db, sess)
        out.append(
            {
                "session": sess,
                "lot": lot_code,
                "entry": entry,
                "exit": exit_,
                "kinds": kinds,
                "candidates": candidates,
            }
        )
    return out


async def merge_candidates(db: AsyncSession, sess: ParkingSession, limit: int = 5) -> list[dict[str, Any]]:
    """Open sessions of the lot whose plate looks like this exit's read (difflib's ratio: a handful of
    characters, no need for a library), best first."""
    rows = await repo.open_sessions(db, sess.lot_id, sess.vehicle_class)
    scored = [(difflib.SequenceMatcher(None, sess.exit_plate or "", o.plate or "").ratio(), o) for o in rows if o.plate]
    scored.sort(key=lambda x: -x[0])
    return [
        {"id": str(o.id), "plate": o.plate, "entry_at": o.entry_at, "score": round(r, 2)}
        for r, o in scored[:limit]
        if r >= 0.5
    ]


def review_kinds(sess: ParkingSession, entry: Any, exit_: Any) -> list[str]:
    """Why a session waits for a person, in the queue's categories."""
    flags = set(sess.flags or [])
    reason = sess.review_reason or ""
    kinds = []
    if "plate_unreadable" in flags or any(e is not None and e.confidence < LOW_CONFIDENCE for e in (entry, exit_)):
        kinds.append("low_confidence")
    if "plate_corrected" in flags:
        kinds.append("plate_corrected")
    if "plate_mismatch" in flags:
        kinds.append("similarity_match")
    if "unknown_entry" in flags or sess.entry_at is None:
        kinds.append("unknown_entry")
    if reason.startswith("re-entered"):
        kinds.append("double_visit")
    if "fee_unknown" in flags:
        kinds.append("fee_unknown")
    return kinds or ["other"]


def recompute_fee(tariffs: TariffBook, lot: Lot, sess: ParkingSession) -> tuple[int, list[dict[str, Any]]] | None:
    """The fee of a closed session through the pricing engine (None when its entry time is unknown)."""
    if sess.entry_at is None or sess.exit_at is None:
        return None
    try:
        q = quote(
            tariffs,
            tariff_id=lot.tariff_id,
            zone=lot.tariff_zone,
            vehicle_class=sess.vehicle_class,
            entry=sess.entry_at,
            exit=sess.exit_at,
        )
    except PricingError as exc:
        raise AppError(exc.code, str(exc), 422) from None
    d = q.to_dict()
    return int(d["total_vnd"]), list(d.get("lines", []))  # type: ignore[call-overload]


async def _change_fee(
    db: AsyncSession, staff: Staff, sess: ParkingSession, new_fee: int, lines: list[dict[str, Any]] | None, why: str
) -> dict[str, Any]:
    """Set a session's fee; money follows through the ledger, never by editing history.

    * Paid more than the new fee: the difference is refunded through the payments service (which books it and
      issues the adjustment e-invoice). A higher fee after payment is refused (collect a debt instead).
    * Not paid yet: the receivable is corrected by an adjusting journal entry (or recognised now, when the
      session had no fee, e.g. an unknown entry an attendant prices), and an open debt follows it.
    """
    old = sess.fee_vnd
    paid = await repo.session_payments(db, sess.id)
    kept = sum(p.amount_vnd - p.refunded_vnd for p in paid)
    refunds = []
    if kept and new_fee > kept:
        raise AppError(
            "fee_increase_after_payment",
            "The driver already paid; a higher fee is recorded as a debt, not by editing the payment.",
            409,
            {"paid_vnd": kept, "new_fee_vnd": new_fee},
        )
    excess = kept - new_fee if kept else 0
    for p in reversed(paid):
        if excess <= 0:
            break
        amount = min(excess, p.amount_vnd - p.refunded_vnd)
        r = await payments.refund(db, payment_id=p.id, amount_vnd=amount, reason=f"review: {why}", actor=staff.actor)
        refunds.append({"refund_id": str(r.id), "payment_id": str(p.id), "amount_vnd": amount})
        excess -= amount
    ledger_delta = 0
    if not kept and sess.status == "closed":
        ledger_delta = await _adjust_receivable(db, sess, new_fee, why)
    sess.fee_vnd = new_fee
    if lines is not None:
        sess.fee_lines = lines
    elif old != new_fee:
        adjustment = {"label": f"Điều chỉnh / Adjustment: {why}", "amount_vnd": new_fee - (old or 0)}
        sess.fee_lines = [*(sess.fee_lines or []), adjustment]
    if not kept and new_fee == 0:
        sess.payment_status = "free"
    return {"old_fee_vnd": old, "new_fee_vnd": new_fee, "refunds": refunds, "receivable_delta_vnd": ledger_delta}


async def _adjust_receivable(db: AsyncSession, sess: ParkingSession, new_fee: int, why: str) -> int:
    recognised = await ledger_repo.entry_postings(db, f"fee:{sess.id}")
    owed = await ledger_repo.receivable_outstanding(db, sess.id)
    key = f"fee_adjust:{sess.id}:{uuid.uuid4()}"
    if not recognised:
        if new_fee > 0:
            await ledger_repo.post_entry(
                db, ledger.fee_recognised(session_id=sess.id, lot_id=sess.lot_id, fee_vnd=new_fee)
            )
        delta = new_fee
    else:
        delta = new_fee - owed
        if delta:
            # More owed: receivable up, revenue up (credit); less: the mirror image. Booked as a correction.
            postings = (ledger.Posting(ledger.RECEIVABLE, delta), ledger.Posting(ledger.revenue(sess.lot_id), -delta))
            await ledger_repo.post_entry(
                db, ledger.JournalEntry("adjustment", key, postings, session_id=sess.id, memo=f"review: {why}")
            )
    debt = (
        await db.execute(select(Debt).where(Debt.session_id == sess.id, Debt.status == "open").with_for_update())
    ).scalar_one_or_none()
    if debt is not None:
        if new_fee <= 0:
            debt.status = "written_off"
        else:
            debt.amount_vnd = new_fee
    elif new_fee > 0 and sess.payment_status == "none":
        # The car has left with nothing asked of it (unknown entry, missed exit): what it owes becomes a debt of
        # its plate, announced at its next entry, as for any unpaid exit.
        await db.flush()
        await payments.record_debt(db, session_id=sess.id, reason="attendant_override")
    return delta


async def review_action(
    db: AsyncSession,
    staff: Staff,
    tariffs: TariffBook,
    session_id: uuid.UUID,
    *,
    action: str,
    reason: str,
    plate: str | None = None,
    fee_vnd: int | None = None,
) -> dict[str, Any]:
    if not reason or len(reason.strip()) < 3:
        raise AppError("reason_required", "Say why (at least 3 characters).", 422)
    reason = reason.strip()
    sess = await repo.session_for_update(db, session_id)
    if sess is None or not staff.sees(sess.lot_id):
        raise AppError("session_not_found", "No session here.", 404)
    lot = await db.get(Lot, sess.lot_id)
    assert lot is not None
    before = {"plate": sess.plate, "fee_vnd": sess.fee_vnd, "review_status": sess.review_status}
    result: dict[str, Any] = {}
    if action == "confirm":
        fee = recompute_fee(tariffs, lot, sess)
        if fee is not None and fee[0] != sess.fee_vnd:
            result = await _change_fee(db, staff, sess, fee[0], fee[1], reason)
    elif action == "correct_plate":
        norm = normalize(plate or "")
        if len(norm) < 5:
            raise AppError("invalid_plate", "Type the plate as it reads on the vehicle.", 422)
        sess.plate = norm
        fee = recompute_fee(tariffs, lot, sess)
        if fee is not None and fee[0] != sess.fee_vnd:
            result = await _change_fee(db, staff, sess, fee[0], fee[1], reason)
    elif action in ("adjust_fee", "waive"):
        if not staff.has("supervisor", "finance"):
            raise AppError("forbidden", "Only a supervisor or finance may change a fee.", 403)
        new_fee = 0 if action == "waive" else fee_vnd
        if new_fee is None or new_fee < 0:
            raise AppError("invalid_amount", "The new fee is a non-negative integer VND.", 422)
        result = await _change_fee(db, staff, sess, new_fee, None, reason)
    else:
        raise AppError("unknown_action", f"Unknown review action {action}.", 422)
    sess.review_status = "resolved"
    sess.review_reason = f"{action}: {reason}"
    sess.updated_at = datetime.now(UTC)
    after = {"plate": sess.plate, "fee_vnd": sess.fee_vnd, "review_status": sess.review_status}
    await record(
        db,
        actor=staff.actor,
        action=f"review.{action}",
        entity="session",
        entity_id=str(sess.id),
        data={"reason": reason, "before": before, "after": after, **result},
    )
    await db.flush()
    return {"session_id": str(sess.id), "action": action, **after, **result}


async def merge(
    db: AsyncSession, staff: Staff, tariffs: TariffBook, source_id: uuid.UUID, target_id: uuid.UUID, reason: str
) -> dict[str, Any]:
    """An exit nobody could match (`source`, unknown entry) belongs to an open stay (`target`) whose plate was
    read differently: the stay ends at that exit, its fee comes from the pricing engine, what it owes goes
    through the ledger (a debt: the car has left), the lot has one car less. Returns the occupancy change."""
    if not reason or len(reason.strip()) < 3:
        raise AppError("reason_required", "Say why (at least 3 characters).", 422)
    src = await repo.session_for_update(db, source_id)
    dst = await repo.session_for_update(db, target_id)
    if src is None or dst is None or not staff.sees(src.lot_id) or not staff.sees(dst.lot_id):
        raise AppError("session_not_found", "No session here.", 404)
    if src.lot_id != dst.lot_id or src.status != "closed" or src.entry_at is not None or src.exit_event_id is None:
        raise AppError("not_mergeable", "Only an exit without an entry merges into an open stay of its lot.", 409)
    if dst.status != "open":
        raise AppError("not_mergeable", "The stay to merge into must still be open.", 409)
    lot = await db.get(Lot, dst.lot_id)
    assert lot is not None
    now = datetime.now(UTC)
    dst.status = "closed"
    dst.exit_event_id = src.exit_event_id
    dst.exit_at = src.exit_at
    dst.exit_plate = src.exit_plate if src.exit_plate != dst.plate else None
    dst.flags = [*(dst.flags or []), "merged"]
    dst.review_status = "resolved"
    dst.review_reason = f"merge: {reason.strip()}"
    dst.updated_at = now
    fee = recompute_fee(tariffs, lot, dst)
    money = await _change_fee(db, staff, dst, fee[0], fee[1], reason.strip()) if fee else {}
    src.flags = [*(src.flags or []), "merged"]
    src.review_status = "resolved"
    src.review_reason = f"merged into {dst.id}"
    src.fee_vnd = 0
    src.updated_at = now
    await repo.move_event(db, src.exit_event_id, dst.id)
    await repo.release_space(db, dst.lot_id, dst.vehicle_class)
    await record(
        db,
        actor=staff.actor,
        action="review.merge",
        entity="session",
        entity_id=str(dst.id),
        data={"reason": reason.strip(), "from_session": str(src.id), "exit_event_id": str(src.exit_event_id), **money},
    )
    await db.flush()
    return {
        "session_id": str(dst.id),
        "action": "merge",
        "fee_vnd": dst.fee_vnd,
        **money,
        "occupancy": [(dst.lot_id, dst.vehicle_class, -1)],
    }


SPLIT_PENDING = ("awaiting_qr", "charging")  # money in flight: split once it has landed or failed


async def split(
    db: AsyncSession,
    staff: Staff,
    tariffs: TariffBook,
    session_id: uuid.UUID,
    *,
    first_exit_at: datetime,
    second_entry_at: datetime,
    reason: str,
) -> dict[str, Any]:
    """A closed session that was really two visits (the exit of the first and the entry of the second were
    missed) becomes two sessions, each priced by the pricing engine; money follows, never edited.

    The original keeps its entry, its payments and its ledger key ``fee:<session>``; it ends at `first_exit_at`
    and its fee is changed like any review fee change (``_change_fee``): paid more than the first visit costs, the
    difference is refunded with an adjustment e-invoice; not paid, its receivable and debt follow by adjusting
    entries. The second visit is a new session (its own ``fee:<new session>`` entry) from `second_entry_at` to
    the original exit (whose gate event moves to it); the car has left, so what it owes is a debt of its plate,
    asked at the next entry like any unpaid exit. Occupancy does not change: one car, gone."""
    reason = (reason or "").strip()
    if len(reason) < 3:
        raise AppError("reason_required", "Say why (at least 3 characters).", 422)
    for t in (first_exit_at, second_entry_at):
        if t.tzinfo is None:
            raise AppError("naive_datetime", "Times carry their zone.", 422)
    a = await repo.session_for_update(db, session_id)
    if a is None or not staff.sees(a.lot_id):
        raise AppError("session_not_found", "No session here.", 404)
    if a.status != "closed" or a.entry_at is None or a.exit_at is None:
        raise AppError("not_splittable", "Only a closed stay with known entry and exit splits in two.", 409)
    if a.payment_status in SPLIT_PENDING:
        raise AppError("payment_in_progress", "A payment of this stay is under way; split it once it settles.", 409)
    if not (a.entry_at < first_exit_at <= second_entry_at < a.exit_at):
        raise AppError(
            "invalid_split",
            "The first visit ends after the entry, the second starts after it and before the exit.",
            422,
            {"entry_at": a.entry_at.isoformat(), "exit_at": a.exit_at.isoformat()},
        )
    lot = await db.get(Lot, a.lot_id)
    assert lot is not None
    now = datetime.now(UTC)
    before = {"entry_at": a.entry_at.isoformat(), "exit_at": a.exit_at.isoformat(), "fee_vnd": a.fee_vnd}
    b = ParkingSession(
        id=new_id(),  # UUIDv7: the session lands in its month's partition, not DEFAULT
        lot_id=a.lot_id,
        vehicle_class=a.vehicle_class,
        plate=a.plate,
        exit_plate=a.exit_plate,
        status="closed",
        entry_event_id=None,
        exit_event_id=a.exit_event_id,
        entry_at=second_entry_at,
        exit_at=a.exit_at,
        payment_status="none",
        review_status="resolved",
        review_reason=f"split from {a.id}: {reason}",
        flags=["split"],
    )
    exit_event = a.exit_event_id
    a.exit_at, a.exit_event_id, a.exit_plate = first_exit_at, None, None
    a.flags = [*(a.flags or []), "split"]
    a.review_status, a.review_reason, a.updated_at = "resolved", f"split: {reason}", now
    db.add(b)
    await db.flush()
    if exit_event is not None:
        await repo.move_event(db, exit_event, b.id)
    first = recompute_fee(tariffs, lot, a)
    second = recompute_fee(tariffs, lot, b)
    assert first is not None and second is not None  # both have entry and exit
    money = await _change_fee(db, staff, a, first[0], first[1], f"split: {reason}")
    b.fee_vnd, b.fee_lines = second
    if second[0] > 0:
        await ledger_repo.post_entry(db, ledger.fee_recognised(session_id=b.id, lot_id=b.lot_id, fee_vnd=second[0]))
        await db.flush()
        await payments.record_debt(db, session_id=b.id, reason="split")
    else:
        b.payment_status = "free"
    data = {
        "reason": reason,
        "before": before,
        "first": {"session_id": str(a.id), "exit_at": first_exit_at.isoformat(), "fee_vnd": first[0]},
        "second": {
            "session_id": str(b.id),
            "entry_at": second_entry_at.isoformat(),
            "exit_at": b.exit_at.isoformat() if b.exit_at else None,
            "fee_vnd": second[0],
        },
        **money,
    }
    for sid in (a.id, b.id):
        await record(db, actor=staff.actor, action="review.split", entity="session", entity_id=str(sid), data=data)
    await db.flush()
    return {
        "session_id": str(a.id),
        "new_session_id": str(b.id),
        "action": "split",
        "fee_vnd": a.fee_vnd,
        "second_fee_vnd": second[0],
        **money,
    }


# ---------------------------------------------------------------- manual barrier override


async def override(
    db: AsyncSession, staff: Staff, lane_id: uuid.UUID, *, reason: str, photo: bytes | None, photo_type: str | None
) -> LaneOverride:
    if not staff.has("supervisor"):
        raise AppError("forbidden", "Only a supervisor opens a barrier by hand.", 403)
    lane = await repo.lane(db, lane_id)
    if lane is None or not staff.sees(lane.lot_id):
        raise AppError("lane_not_found", "No lane here.", 404)
    reason = (reason or "").strip()
    if len(reason) < 3:
        raise AppError("reason_required", "A manual opening needs a reason (at least 3 characters).", 422)
    row = LaneOverride(
        id=uuid.uuid4(),
        lane_id=lane.id,
        lot_id=lane.lot_id,
        user_id=staff.user_id,
        actor=staff.actor,
        reason=reason,
        photo=photo or None,
        photo_type=photo_type if photo else None,
    )
    db.add(row)
    # The existing lane command stream: the outbox publishes "open" on lane:<id>:commands after the commit.
    await outbox.enqueue(
        db,
        payments.TOPIC_LANE_OPEN,
        {"lane_id": str(lane.id), "session_id": None, "reason": f"override: {reason}"},
        key=f"lane-override-{row.id}",
    )
    await record(
        db,
        actor=staff.actor,
        action="lane.override_open",
        entity="lane",
        entity_id=str(lane.id),
        data={"reason": reason, "override_id": str(row.id), "photo": bool(photo)},
    )
    await db.flush()
    return row


# ---------------------------------------------------------------- alerts


async def acknowledge(db: AsyncSession, staff: Staff, alert_id: uuid.UUID, note: str) -> ConsoleAlert:
    alert = await db.get(ConsoleAlert, alert_id, with_for_update=True)
    if alert is None or alert.operator_id != staff.operator_id or (alert.lot_id and not staff.sees(alert.lot_id)):
        raise AppError("alert_not_found", "No alert here.", 404)
    if alert.acknowledged_at is None:
        alert.acknowledged_at = datetime.now(UTC)
        alert.acknowledged_by = staff.actor
        alert.ack_note = note.strip() or None
        await record(
            db,
            actor=staff.actor,
            action="alert.acknowledged",
            entity="alert",
            entity_id=str(alert.id),
            data={"kind": alert.kind, "note": alert.ack_note},
        )
    await db.flush()
    return alert


# ---------------------------------------------------------------- drivers' disputes and problem reports


async def disputes(db: AsyncSession, staff: Staff, *, status: str, base_url: str) -> list[dict[str, Any]]:
    """The disputes of this person's lots, each with its evidence pack (frozen when filed) and the crops of the
    session's entry and exit as they are now (a plate corrected since then shows both reads)."""
    found = await disputes_service.review_queue(db, status, lot_ids=staff.lot_ids)
    sessions = await repo.sessions_by_ids(db, [d.session_id for d in found])
    ids = [i for s in sessions.values() for i in (s.entry_event_id, s.exit_event_id) if i]
    events = await repo.events_by_ids(db, ids)
    out = []
    for d in found:
        view = await disputes_service.dispute_view(db, d, base_url=base_url, with_evidence=True)
        sess = sessions[d.session_id]
        fee = view["evidence"].get("fee_proof") or {}
        view["entry_event"] = events.get(sess.entry_event_id) if sess.entry_event_id else None
        view["exit_event"] = events.get(sess.exit_event_id) if sess.exit_event_id else None
        view["fee"] = fee
        view["filed_at"] = d.created_at
        view["refundable_vnd"] = sum(
            p["amount_vnd"] - p["refunded_vnd"]
            for p in view["evidence"].get("payments", [])
            if p["status"] in disputes_service.REFUNDABLE
        )
        out.append(view)
    return out


async def decide_dispute(
    db: AsyncSession,
    staff: Staff,
    dispute_id: uuid.UUID,
    *,
    decision: str,
    reason: str,
    amount_vnd: int | None,
) -> dict[str, Any]:
    """Refund (the provider refund and the adjustment e-invoice follow through the outbox) or reject, through
    the disputes service, so the driver reads the decision. Money goes back only on a supervisor's (or an
    admin's) call, as on the API; an operator may reject. Audited."""
    needs = ("supervisor",) if decision == "refund" else ("operator", "supervisor")
    if not staff.has(*needs):
        raise AppError("forbidden", "Your role may not take this decision.", 403, {"role": staff.role, "needs": needs})
    if amount_vnd is not None and amount_vnd <= 0:
        raise AppError("invalid_amount", "A refund is a positive whole number of VND.", 422)
    d = await disputes_service.decide(
        db, dispute_id, decision=decision, reason=reason, actor=staff.actor, lot_ids=staff.lot_ids,
        amount_vnd=amount_vnd if decision == "refund" else None,
    )  # fmt: skip
    await record(
        db,
        actor=staff.actor,
        action=f"dispute.{decision}",
        entity="dispute",
        entity_id=str(d.id),
        data={
            "reason": d.decision_reason,
            "session_id": str(d.session_id),
            "refund_vnd": d.refund_vnd,
            "refund_id": str(d.refund_id) if d.refund_id else None,
        },
    )
    return {"dispute_id": str(d.id), "status": d.status, "refund_vnd": d.refund_vnd}


async def lot_reports(db: AsyncSession, staff: Staff, *, status: str | None) -> dict[str, Any]:
    """Problem reports and ratings of this person's lots."""
    return {
        "problems": await disputes_service.operator_reports(db, status=status, lot_ids=staff.lot_ids),
        "ratings": await disputes_service.lot_ratings(db, lot_ids=staff.lot_ids, limit=50),
        "summaries": await disputes_service.rating_summaries(db, lot_ids=staff.lot_ids),
    }


async def acknowledge_report(db: AsyncSession, staff: Staff, report_id: uuid.UUID, *, close: bool) -> str:
    """Acknowledge (or close) a problem report; its console alert is acknowledged with it. Audited."""
    if not staff.has("operator", "supervisor"):
        raise AppError("forbidden", "Your role may not acknowledge reports.", 403)
    r, _code = await disputes_service.acknowledge(db, report_id, actor=staff.actor, close=close, lot_ids=staff.lot_ids)
    alert = (
        await db.execute(
            select(ConsoleAlert)
            .where(
                ConsoleAlert.dedupe_key == disputes_service.report_alert_key(r.id),
                ConsoleAlert.acknowledged_at.is_(None),
            )
            .with_for_update()
        )
    ).scalar()
    if alert is not None:
        alert.acknowledged_at, alert.acknowledged_by = datetime.now(UTC), staff.actor
        alert.ack_note = "báo cáo đã xử lý / report handled"
    await record(
        db,
        actor=staff.actor,
        action="report.closed" if close else "report.acknowledged",
        entity="lot_report",
        entity_id=str(r.id),
        data={"kind": r.kind, "alert_id": str(alert.id) if alert else None},
    )
    await db.flush()
    return r.status
