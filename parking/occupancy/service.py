"""Lot occupancy: the capacity counters in PostgreSQL (the truth, moved inside the gate's transaction) and
their Redis mirror (moved after the commit, repaired periodically from the open sessions)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from parking.kit import redis_keys
from parking.kit.metrics import LANES_ONLINE, OCCUPANCY_REPAIRS, OPEN_SESSIONS
from parking.occupancy import repository as repo

log = structlog.get_logger("parking.occupancy")


async def apply_deltas(redis: Redis, deltas: list[tuple[uuid.UUID, str, int]]) -> None:
    """Post-commit: move the Redis counters and tell the live stream."""
    if not deltas:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for lot_id, vclass, delta in deltas:
            pipe.hincrby(redis_keys.occupancy(lot_id), vclass, delta)
        results = await pipe.execute()
    async with redis.pipeline(transaction=False) as pipe:
        for (lot_id, vclass, _), value in zip(deltas, results, strict=True):
            pipe.publish(
                redis_keys.OCCUPANCY_CHANNEL,
                orjson.dumps({"lot_id": str(lot_id), "vehicle_class": vclass, "occupied": int(value)}).decode(),
            )
        await pipe.execute()


async def lot_snapshot(db: AsyncSession, redis: Redis | None, lot_id: uuid.UUID | None = None) -> list[dict[str, Any]]:
    """Capacity from PostgreSQL; the occupied count from Redis when it has it, else from PostgreSQL."""
    rows = await repo.snapshot_rows(db, lot_id)
    cached: dict[str, dict[Any, Any]] = {}
    if redis is not None:
        try:
            for lid in {str(r.id) for r in rows}:
                cached[lid] = await redis.hgetall(redis_keys.occupancy(lid))
        except RedisError as exc:  # the mirror is down: PostgreSQL's counters are the truth anyway
            log.warning("occupancy.redis_unavailable", error=str(exc))
            cached = {}
    lots: dict[str, dict[str, Any]] = {}
    for r in rows:
        lot = lots.setdefault(
            str(r.id), {"lot_id": str(r.id), "code": r.code, "name": r.name, "classes": {}, "source": "redis"}
        )
        live = cached.get(str(r.id), {}).get(r.vehicle_class)
        occupied = int(live) if live is not None else int(r.occupied)
        if live is None:
            lot["source"] = "postgres"
        lot["classes"][r.vehicle_class] = {
            "capacity": r.capacity,
            "occupied": occupied,
            "free": max(r.capacity - occupied, 0),
            "full": occupied >= r.capacity,
        }
    return list(lots.values())


async def repair(db: AsyncSession, redis: Redis | None) -> int:
    """Recount open sessions (the truth) into PostgreSQL's counters and Redis; return corrections made.

    The counter rows are locked first: gate transactions update them before committing, so while we hold
    the locks no session change can commit and the recount is exact. (A Redis increment from a transaction
    that committed just before can still land after our write; the next repair corrects it.)
    """
    caps = await repo.counters_for_update(db)
    counts = await repo.open_session_counts(db)
    fixes = 0
    per_lot: dict[uuid.UUID, int] = {}
    truths: list[tuple[uuid.UUID, str, int]] = []
    for cap in caps:
        truth = counts.get((cap.lot_id, cap.vehicle_class), 0)
        per_lot[cap.lot_id] = per_lot.get(cap.lot_id, 0) + truth
        truths.append((cap.lot_id, cap.vehicle_class, truth))
        if cap.occupied != truth:
            fixes += 1
            log.warning(
                "occupancy.pg_drift",
                lot_id=str(cap.lot_id),
                vclass=cap.vehicle_class,
                counter=cap.occupied,
                truth=truth,
            )
            await repo.set_occupied(db, cap.lot_id, cap.vehicle_class, truth)
    for lid, n in per_lot.items():
        OPEN_SESSIONS.labels(str(lid)).set(n)
    if redis is not None:
        try:
            fixes += await _repair_mirror(redis, truths)
        except RedisError as exc:  # PostgreSQL's counters are repaired; the mirror waits for the next run
            log.warning("occupancy.redis_unavailable", error=str(exc))
    if fixes:
        OCCUPANCY_REPAIRS.inc(fixes)
    return fixes


async def _repair_mirror(redis: Redis, truths: list[tuple[uuid.UUID, str, int]]) -> int:
    fixes = 0
    for lot_id, vclass, truth in truths:
        live = await redis.hget(redis_keys.occupancy(lot_id), vclass)
        if live is None or int(live) != truth:
            if live is not None:
                fixes += 1
                log.warning("occupancy.redis_drift", lot_id=str(lot_id), vclass=vclass, redis=live, truth=truth)
            await redis.hset(redis_keys.occupancy(lot_id), vclass, truth)
    LANES_ONLINE.set(sum([1 async for _ in redis.scan_iter(match=redis_keys.LANE_HEARTBEAT_PATTERN, count=500)]))
    return fixes


def now_iso() -> str:
    return datetime.now(UTC).isoformat()
