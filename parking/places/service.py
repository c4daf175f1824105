"""Find a space: lots near a point, nearest first, with live free spaces, the tariff now and what stays cost.

Never commits. Free spaces come from the Redis occupancy mirror (moved after every gate commit, realigned by
the repair job); when Redis does not answer, from PostgreSQL's counters, and the answer says which.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from parking.drivers.wording import vehicle_class_en, vehicle_class_vi
from parking.places import repository as repo
from parking.pricing import PricingError, TariffBook, quote

log = structlog.get_logger("parking.places")

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
STAY_HOURS = (1, 2, 4)


def is_open(opens_at: time | None, closes_at: time | None, at: datetime) -> bool:
    """Open at ``at`` (tz-aware)? Both None: around the clock; closes_at <= opens_at: closes after midnight."""
    if opens_at is None or closes_at is None:
        return True
    local = at.astimezone(VN_TZ).time().replace(tzinfo=None)
    if opens_at < closes_at:
        return opens_at <= local < closes_at
    return local >= opens_at or local < closes_at


def opening_hours(opens_at: time | None, closes_at: time | None, at: datetime) -> dict[str, Any]:
    always = opens_at is None or closes_at is None
    return {
        "always_open": always,
        "opens_at": None if always or opens_at is None else opens_at.strftime("%H:%M"),
        "closes_at": None if always or closes_at is None else closes_at.strftime("%H:%M"),
        "timezone": "Asia/Ho_Chi_Minh",
        "open_now": is_open(opens_at, closes_at, at),
        "text_vi": "Mở cửa 24/24" if always else f"Mở cửa {opens_at:%H:%M}–{closes_at:%H:%M}",
    }


async def live_counts(
    redis: Redis | None, lot_ids: Sequence[uuid.UUID]
) -> tuple[dict[uuid.UUID, dict[str, int]], datetime | None]:
    """Occupied counts per lot and class from the Redis mirror (one round trip), and when they were read."""
    if redis is None or not lot_ids:
        return {}, None
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for lid in lot_ids:
                pipe.hgetall(f"occ:{lid}")
            results = await pipe.execute()
    except (RedisError, OSError) as exc:
        log.warning("places.redis_unavailable", error=str(exc))
        return {}, None
    at = datetime.now(UTC)
    out: dict[uuid.UUID, dict[str, int]] = {}
    for lid, h in zip(lot_ids, results, strict=True):
        counts: dict[str, int] = {}
        for k, v in (h or {}).items():
            key = k.decode() if isinstance(k, bytes) else str(k)
            try:
                counts[key] = int(v)
            except (TypeError, ValueError):
                continue
        out[lid] = counts
    return out, at


def stay_prices(
    book: TariffBook, tariff_id: str, zone: str, vehicle_class: str, now: datetime
) -> dict[str, Any] | None:
    """The tariff that applies now and the fee of a stay of 1, 2 and 4 hours starting now (pricing engine)."""
    stays = []
    head: dict[str, Any] | None = None
    for hours in STAY_HOURS:
        try:
            q = quote(
                book,
                tariff_id=tariff_id,
                zone=zone,
                vehicle_class=vehicle_class,
                entry=now,
                exit=now + timedelta(hours=hours),
            )
        except PricingError:
            return None
        if head is None:
            head = {
                "tariff_id": q.tariff_id,
                "tariff_version": q.tariff_version,
                "rule": q.rule_id,
                "legal_source": q.legal_source,
                "certainty": q.certainty,
                "prices_include_vat": q.prices_include_vat,
            }
        stays.append({"hours": hours, "total_vnd": q.total_vnd})
    assert head is not None
    return {**head, "stays": stays}


async def find_places(
    db: AsyncSession,
    redis: Redis | None,
    book: TariffBook,
    *,
    lat: float,
    lon: float,
    radius_m: float,
    vehicle_class: str | None,
    limit: int,
    now: datetime | None = None,
) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    rows = await repo.lots_near(db, lat=lat, lon=lon, radius_m=radius_m, vehicle_class=vehicle_class, limit=limit)
    ids = [r.id for r in rows]
    caps = await repo.capacities(db, ids)
    live, live_at = await live_counts(redis, ids)
    prices: dict[tuple[str, str, str], dict[str, Any] | None] = {}  # many lots share a tariff
    places = []
    for r in rows:
        classes = caps.get(r.id, {})
        mirror = live.get(r.id, {})
        availability = {}
        sources = set()
        for vclass, (capacity, pg_occupied) in sorted(classes.items()):
            if vehicle_class and vclass != vehicle_class:
                continue
            occupied = mirror.get(vclass)
            sources.add("redis" if occupied is not None else "postgres")
            occ = occupied if occupied is not None else pg_occupied
            key = (r.tariff_id, r.tariff_zone, vclass)
            if key not in prices:
                prices[key] = stay_prices(book, r.tariff_id, r.tariff_zone, vclass, now)
            availability[vclass] = {
                "name_vi": vehicle_class_vi(vclass),
                "name_en": vehicle_class_en(vclass),
                "capacity": capacity,
                "occupied": min(max(occ, 0), capacity),
                "free": max(capacity - occ, 0),
                "full": occ >= capacity,
                "rate": prices[key],
            }
        source = "redis" if sources == {"redis"} else "postgres" if sources == {"postgres"} else "mixed"
        places.append(
            {
                "id": str(r.id),
                "code": r.code,
                "name": r.name,
                "address": r.address,
                "latitude": float(r.latitude),
                "longitude": float(r.longitude),
                "distance_m": round(float(r.distance_m)),
                "opening_hours": opening_hours(r.opens_at, r.closes_at, now),
                "payment": {"linked_account": r.accepts_linked, "vietqr": r.accepts_vietqr, "cash": False},
                "availability": availability,
                "availability_source": source,
                "availability_at": (live_at if source == "redis" and live_at else now).isoformat(),
            }
        )
    return {
        "origin": {"latitude": lat, "longitude": lon},
        "radius_m": radius_m,
        "vehicle_class": vehicle_class,
        "at": now.isoformat(),
        "places": places,
    }


async def nearby_with_space(
    db: AsyncSession, lot_id: uuid.UUID, vehicle_class: str, *, radius_m: float = 1500, limit: int = 2
) -> list[dict[str, Any]]:
    """Other lots near a lot that have free spaces for the class now (PostgreSQL's counters: the gate's own
    transaction reads them), nearest first: what a lot-full screen suggests."""
    from sqlalchemy import select

    from parking.models import Lot

    here = (await db.execute(select(Lot.latitude, Lot.longitude).where(Lot.id == lot_id))).one_or_none()
    if here is None:
        return []
    rows = await repo.lots_near(
        db,
        lat=float(here.latitude),
        lon=float(here.longitude),
        radius_m=radius_m,
        vehicle_class=vehicle_class,
        limit=20,
    )
    caps = await repo.capacities(db, [r.id for r in rows if r.id != lot_id])
    out = []
    for r in rows:
        cap = caps.get(r.id, {}).get(vehicle_class)
        if r.id == lot_id or cap is None or cap[0] - cap[1] <= 0:
            continue
        out.append({"code": r.code, "name": r.name, "distance_m": round(float(r.distance_m)), "free": cap[0] - cap[1]})
        if len(out) >= limit:
            break
    return out


async def update_lot_settings(
    db: AsyncSession, code: str, changes: dict[str, Any], *, lot_ids: Sequence[uuid.UUID]
) -> Any:
    """The operator's settings of a lot (opening hours, payment ways, the unpaid-QR wait and policy).

    Only a lot of `lot_ids` (the staff member's); any other answers 404 as if it did not exist."""
    from sqlalchemy import select

    from parking.kit.errors import AppError
    from parking.models import Lot

    lot = (await db.execute(select(Lot).where(Lot.code == code, Lot.id.in_(lot_ids)).with_for_update())).scalar()
    if lot is None:  # the same answer for another operator's lot as for none (the code is not echoed either)
        raise AppError("lot_not_found", "No such lot.", 404)
    if changes.pop("always_open", None):
        lot.opens_at = lot.closes_at = None
    for name in ("opens_at", "closes_at"):
        if changes.get(name) is not None:
            setattr(lot, name, time.fromisoformat(changes.pop(name)))
        changes.pop(name, None)
    if (lot.opens_at is None) != (lot.closes_at is None):
        raise AppError("hours_incomplete", "Give both opens_at and closes_at (or always_open).", 422)
    for name, value in changes.items():
        if value is not None:
            setattr(lot, name, value)
    await db.flush()
    return lot
