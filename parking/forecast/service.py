"""The forecast for a lot and class from its own history in PostgreSQL (sessions), cached in Redis. Never commits.

The occupancy series is rebuilt from the sessions that overlap the window with one query: the count at ``t``
is the sessions entered by ``t`` minus those exited by ``t`` (numpy ``searchsorted``), so the cost grows with
the number of sessions, not with sessions x samples.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from parking.forecast.model import HORIZONS_MIN, Series, fit
from parking.kit.errors import AppError
from parking.models import Lot, LotCapacity, ParkingSession

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
STEP_MIN = 5
HISTORY_DAYS = 28
MIN_HISTORY_DAYS = 2
CACHE_S = 120


async def history_series(
    db: AsyncSession, lot_id: uuid.UUID, vehicle_class: str, capacity: int, now: datetime, days: int
) -> Series:
    local_now = now.astimezone(VN_TZ)
    start_local = (local_now - timedelta(days=days)).replace(second=0, microsecond=0)
    start_local = start_local.replace(minute=start_local.minute - start_local.minute % STEP_MIN)
    start = start_local.astimezone(UTC)
    rows = (
        await db.execute(
            select(ParkingSession.entry_at, ParkingSession.exit_at).where(
                ParkingSession.lot_id == lot_id,
                ParkingSession.vehicle_class == vehicle_class,
                ParkingSession.entry_at.is_not(None),
                ParkingSession.entry_at <= now,
                or_(ParkingSession.exit_at.is_(None), ParkingSession.exit_at > start),
            )
        )
    ).all()
    n = int((now - start).total_seconds() // (STEP_MIN * 60)) + 1
    t = start.timestamp() + np.arange(n) * STEP_MIN * 60
    entries = np.sort(np.array([r.entry_at.timestamp() for r in rows], dtype=np.float64))
    exits = np.sort(np.array([r.exit_at.timestamp() for r in rows if r.exit_at is not None], dtype=np.float64))
    occ = np.searchsorted(entries, t, side="right") - np.searchsorted(exits, t, side="right")
    return Series(
        np.clip(occ, 0, capacity).astype(np.float64),
        capacity,
        STEP_MIN,
        start_local.weekday(),
        start_local.hour * 60 + start_local.minute,
    )


async def forecast(
    db: AsyncSession, redis: Redis | None, lot_code: str, vehicle_class: str, *, now: datetime | None = None
) -> dict[str, Any]:
    row = (
        await db.execute(
            select(Lot.id, LotCapacity.capacity)
            .join(LotCapacity, LotCapacity.lot_id == Lot.id)
            .where(Lot.code == lot_code, LotCapacity.vehicle_class == vehicle_class)
        )
    ).one_or_none()
    if row is None:
        raise AppError("lot_not_found", f"No lot {lot_code} with spaces for {vehicle_class}.", 404)
    cache_key = f"forecast:{row.id}:{vehicle_class}"
    if redis is not None and now is None:
        try:
            hit = await redis.get(cache_key)
            if hit:
                return dict(orjson.loads(hit))
        except (RedisError, OSError):
            pass
    now = now or datetime.now(UTC)
    oldest = (
        await db.execute(
            select(ParkingSession.entry_at)
            .where(ParkingSession.lot_id == row.id, ParkingSession.entry_at.is_not(None))
            .order_by(ParkingSession.entry_at)
            .limit(1)
        )
    ).scalar()
    days = min(HISTORY_DAYS, int((now - oldest).total_seconds() // 86400)) if oldest else 0
    base: dict[str, Any] = {
        "placeId": lot_code,
        "vehicle_class": vehicle_class,
        "capacity": int(row.capacity),
        "at": now.isoformat(),
        "history_days": days,
    }
    if days < MIN_HISTORY_DAYS:
        return {**base, "available": False, "reason": f"needs {MIN_HISTORY_DAYS} days of history", "points": []}
    s = await history_series(db, row.id, vehicle_class, int(row.capacity), now, days)
    # Fit on all but the last day; calibrate the band on the last day (it was not seen by the fit).
    per_day = 1440 // STEP_MIN
    train = Series(s.values[:-per_day], s.capacity, s.step_min, s.start_weekday, s.start_minute)
    f = fit(train, calibrate=s)
    i = len(s.values) - 1
    points = []
    for hm in HORIZONS_MIN:
        occ, lo, hi = f.predict(s, i, hm)
        cap = s.capacity
        points.append(
            {
                "minutes_ahead": hm,
                "at": (now + timedelta(minutes=hm)).isoformat(),
                "free": round(cap - occ),
                "free_low": round(cap - hi),
                "free_high": round(cap - lo),
            }
        )
    out = {**base, "available": True, "band": "80% (10th-90th percentile of recent errors)", "points": points}
    if redis is not None:
        try:
            await redis.set(cache_key, orjson.dumps(out), ex=CACHE_S)
        except (RedisError, OSError):
            pass
    return out
