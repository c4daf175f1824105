"""Fee proof: what a session's fee is made of, for the driver, the lane and staff — never for anyone else.

Entry and exit (time, the plate read and its confidence, whether a crop exists), the tariff and version
applied, and each line of the pricing engine's trace with its amount, named in Vietnamese and English. No
internal id other than the session's own is shown (the lot is named by its code and name). Never commits.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import vnplate
from parking.drivers import service as drivers
from parking.drivers.auth import driver_for_token
from parking.drivers.wording import describe_line, local_text, vehicle_class_en, vehicle_class_vi
from parking.kit.errors import AppError
from parking.lanes.auth import LaneCache, authenticate
from parking.models import GateEvent, Lane, Lot, ParkingSession
from parking.pricing import PricingError, TariffBook, quote
from parking.staff.service import Staff

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def stay_text(minutes: int) -> str:
    h, m = divmod(max(minutes, 0), 60)
    d, h = divmod(h, 24)
    parts = [f"{d} ngày"] if d else []
    if h:
        parts.append(f"{h} giờ")
    parts.append(f"{m} phút")
    return " ".join(parts)


async def authorize_view(
    db: AsyncSession,
    lanes: LaneCache,
    session: ParkingSession,
    *,
    authorization: str | None,
    staff: Staff | None,
) -> str:
    """Who may see this session's personal data: staff of its lot, a lane of its lot, or the driver it belongs to.

    Staff of another operator (or outside the lots a user is limited to) get the same 404 as a missing session.
    """
    if staff is not None:
        if staff.sees(session.lot_id):
            return "staff"
        raise AppError("session_not_found", f"No session {session.id}.", 404)
    if not authorization or not authorization.lower().startswith("bearer "):
        raise AppError(
            "unauthorized", "Sign in: this shows a plate and its times, only to its driver, the lane or staff.", 401
        )
    token = authorization[7:].strip()
    if token.startswith("drv_"):
        driver = await driver_for_token(db, token)
        if await drivers.owns_session(db, driver, session.id):
            return "driver"
        raise AppError("session_not_found", "No such session on this account.", 404)
    lane = await authenticate(db, lanes, authorization)
    if lane.lot_id != session.lot_id:
        raise AppError("wrong_lot", "A lane sees only the sessions of its own lot.", 403)
    return "lane"


async def load_session(db: AsyncSession, session_id: uuid.UUID) -> ParkingSession:
    s = (await db.execute(select(ParkingSession).where(ParkingSession.id == session_id))).scalar()
    if s is None:
        raise AppError("session_not_found", f"No session {session_id}.", 404)
    return s


async def _event(db: AsyncSession, event_id: uuid.UUID | None) -> dict[str, Any] | None:
    if event_id is None:
        return None
    row = (
        await db.execute(
            select(GateEvent, Lane.code).join(Lane, Lane.id == GateEvent.lane_id).where(GateEvent.id == event_id)
        )
    ).one_or_none()
    if row is None:
        return None
    ev, lane_code = row
    return {
        "captured_at": ev.captured_at.astimezone(UTC).isoformat(),
        "captured_at_local": local_text(ev.captured_at),
        "lane": lane_code,
        "plate_read": vnplate.display(ev.plate_read or "", ev.vehicle_class) if ev.plate_read else None,
        "confidence": round(float(ev.confidence), 3),
        "offline_action": ev.offline_action,
        "has_crop": bool(ev.has_image),
    }


async def fee_proof(
    db: AsyncSession, book: TariffBook | None, session: ParkingSession, *, now: datetime | None = None
) -> dict[str, Any]:
    lot = (await db.execute(select(Lot).where(Lot.id == session.lot_id))).scalar_one()
    now = now or datetime.now(UTC)
    base: dict[str, Any] = {
        "session_id": str(session.id),
        "lot": {"code": lot.code, "name": lot.name, "address": lot.address},
        "plate": vnplate.display(session.plate, session.vehicle_class) if session.plate else None,
        "vehicle_class": session.vehicle_class,
        "vehicle_class_vi": vehicle_class_vi(session.vehicle_class),
        "vehicle_class_en": vehicle_class_en(session.vehicle_class),
        "status": session.status,
        "payment_status": session.payment_status,
        "review_status": session.review_status,
        "entry_at": session.entry_at.isoformat() if session.entry_at else None,
        "entry_at_local": local_text(session.entry_at),
        "exit_at": session.exit_at.isoformat() if session.exit_at else None,
        "exit_at_local": local_text(session.exit_at),
        "entry": await _event(db, session.entry_event_id),
        "exit": await _event(db, session.exit_event_id),
        "crops": {
            "entry": f"/v1/sessions/{session.id}/crops/entry" if session.entry_event_id else None,
            "exit": f"/v1/sessions/{session.id}/crops/exit" if session.exit_event_id else None,
        },
    }
    for side in ("entry", "exit"):
        if base[side] is None or not base[side]["has_crop"]:
            base["crops"][side] = None
    end = session.exit_at if session.status == "closed" else now
    if session.entry_at is not None and end is not None:
        minutes = int((max(end, session.entry_at) - session.entry_at).total_seconds() // 60)
        base["stay_minutes"], base["stay_text_vi"] = minutes, stay_text(minutes)
    if session.status == "closed":
        lines = session.fee_lines or []
        return {
            **base,
            "final": True,
            "total_vnd": session.fee_vnd,
            "tariff": {"tariff_id": session.tariff_id, "version": session.tariff_version},
            "lines": [describe_line(x) for x in lines],
        }
    if session.entry_at is None or book is None:
        raise AppError("fee_unknown", "This session has no known entry time; an attendant sets its fee.", 409)
    try:
        q = quote(
            book,
            tariff_id=lot.tariff_id,
            zone=lot.tariff_zone,
            vehicle_class=session.vehicle_class,
            entry=session.entry_at,
            exit=max(now, session.entry_at),
        )
    except PricingError as exc:
        raise AppError(exc.code, str(exc), 422) from None
    d = q.to_dict()
    raw_lines = d["lines"]
    assert isinstance(raw_lines, list)
    return {
        **base,
        "final": False,
        "as_of": now.isoformat(),
        "as_of_local": local_text(now),
        "total_vnd": q.total_vnd,
        "net_vnd": q.net_vnd,
        "vat_vnd": q.vat_vnd,
        "tariff": {
            "tariff_id": q.tariff_id,
            "version": str(q.tariff_version),
            "rule": q.rule_id,
            "legal_source": q.legal_source,
            "certainty": q.certainty,
        },
        "lines": [describe_line(x) for x in raw_lines],
    }


async def crop(db: AsyncSession, session: ParkingSession, side: str) -> tuple[bytes, str]:
    from parking.models import GateEventImage

    event_id = session.entry_event_id if side == "entry" else session.exit_event_id
    img = (
        (await db.execute(select(GateEventImage).where(GateEventImage.event_id == event_id))).scalar()
        if event_id
        else None
    )
    if img is None:
        raise AppError("crop_not_found", f"No {side} crop was kept for this session.", 404)
    return bytes(img.data), img.content_type
