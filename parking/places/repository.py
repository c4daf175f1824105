"""SQL of find-a-space: distance in PostgreSQL (cube + earthdistance), the GiST index ix_lots_earth."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from parking.models import LotCapacity

# earth_box(...) @> point is the indexable pre-filter (a cube around the circle); earth_distance is exact.
_NEAR = """
WITH origin AS (SELECT ll_to_earth(:lat, :lon) AS e)
SELECT l.id, l.code, l.name, l.address, l.latitude, l.longitude, l.tariff_id, l.tariff_zone,
       l.opens_at, l.closes_at, l.accepts_linked, l.accepts_vietqr,
       earth_distance(o.e, ll_to_earth(l.latitude::double precision, l.longitude::double precision)) AS distance_m
FROM lots l, origin o
WHERE earth_box(o.e, :radius) @> ll_to_earth(l.latitude::double precision, l.longitude::double precision)
  AND earth_distance(o.e, ll_to_earth(l.latitude::double precision, l.longitude::double precision)) <= :radius
  {class_filter}
ORDER BY distance_m, l.code
LIMIT :limit
"""

_CLASS_FILTER = (
    "AND EXISTS (SELECT 1 FROM lot_capacities c WHERE c.lot_id = l.id AND c.vehicle_class = :vclass AND c.capacity > 0)"
)


async def lots_near(
    db: AsyncSession, *, lat: float, lon: float, radius_m: float, vehicle_class: str | None, limit: int
) -> Sequence[Row[Any]]:
    sql = _NEAR.format(class_filter=_CLASS_FILTER if vehicle_class else "")
    params: dict[str, Any] = {"lat": lat, "lon": lon, "radius": radius_m, "limit": limit}
    if vehicle_class:
        params["vclass"] = vehicle_class
    return (await db.execute(text(sql), params)).all()


async def capacities(db: AsyncSession, lot_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, dict[str, tuple[int, int]]]:
    """{lot_id: {vehicle_class: (capacity, occupied per PostgreSQL)}}."""
    out: dict[uuid.UUID, dict[str, tuple[int, int]]] = {}
    if not lot_ids:
        return out
    rows = await db.execute(
        select(LotCapacity.lot_id, LotCapacity.vehicle_class, LotCapacity.capacity, LotCapacity.occupied).where(
            LotCapacity.lot_id.in_(lot_ids)
        )
    )
    for r in rows:
        out.setdefault(r.lot_id, {})[r.vehicle_class] = (int(r.capacity), int(r.occupied))
    return out
