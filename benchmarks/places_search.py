"""Find-a-space latency with a city's thousands of lots: the service call (PostgreSQL earthdistance + GiST
index, the Redis mirror, the pricing engine's stay quotes) for random points in Hanoi.

    python benchmarks/places_search.py --lots 5000 --queries 300     # prints one JSON object

Self-contained: embedded PostgreSQL and Redis in a temporary directory, migrations, ``--lots`` lots with
random coordinates over greater Hanoi (about 40 x 40 km) and two vehicle classes each, then ``--queries``
searches of a 1 km radius (the map app's default) timed in-process, warm. Also times the same query with the
index disabled (``enable_indexscan/bitmapscan = off``) to show what the index buys.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))] if xs else 0.0


async def run(lots: int, queries: int, db_url: str, redis_url: str) -> dict[str, object]:
    from redis.asyncio import Redis
    from sqlalchemy import insert, text

    from parking.kit.db import make_engine, make_sessionmaker
    from parking.models import Lot, LotCapacity, Operator
    from parking.places.service import find_places
    from parking.sessions.fees import load_book
    from parking.settings import REPO_ROOT

    rng = random.Random(7)
    engine = make_engine(db_url, 4)
    sm = make_sessionmaker(engine)
    redis = Redis.from_url(redis_url)
    book = load_book(REPO_ROOT / "config")
    async with sm() as db:
        op_id = uuid.uuid4()
        await db.execute(insert(Operator).values(id=op_id, code="BENCH", name="Bench", address="", tax_code=""))
        rows, caps = [], []
        for i in range(lots):
            lid = uuid.uuid4()
            rows.append(
                {
                    "id": lid,
                    "operator_id": op_id,
                    "code": f"B{i:05d}",
                    "name": f"Bãi {i}",
                    "address": "Hà Nội",
                    "latitude": Decimal(f"{rng.uniform(20.85, 21.21):.6f}"),
                    "longitude": Decimal(f"{rng.uniform(105.63, 106.02):.6f}"),
                    "tariff_id": "hanoi-44-2017",
                    "tariff_zone": "urban",
                }
            )
            caps += [
                {"lot_id": lid, "vehicle_class": "motorbike", "capacity": 200, "occupied": rng.randint(0, 200)},
                {"lot_id": lid, "vehicle_class": "car_small", "capacity": 40, "occupied": rng.randint(0, 40)},
            ]
        await db.execute(insert(Lot), rows)
        await db.execute(insert(LotCapacity), caps)
        await db.commit()
        await db.execute(text("ANALYZE lots"))
        await db.execute(text("ANALYZE lot_capacities"))
        await db.commit()
    points = [(rng.uniform(20.95, 21.10), rng.uniform(105.75, 105.90)) for _ in range(queries)]

    async def timed(no_index: bool) -> tuple[list[float], list[int]]:
        ms, found = [], []
        async with sm() as db:
            if no_index:
                await db.execute(text("SET enable_indexscan = off"))
                await db.execute(text("SET enable_bitmapscan = off"))
            for lat, lon in points[:10]:  # warm up
                await find_places(db, redis, book, lat=lat, lon=lon, radius_m=1000, vehicle_class="motorbike", limit=20)
            for lat, lon in points:
                t0 = time.perf_counter()
                out = await find_places(
                    db, redis, book, lat=lat, lon=lon, radius_m=1000, vehicle_class="motorbike", limit=20
                )
                ms.append((time.perf_counter() - t0) * 1000)
                found.append(len(out["places"]))
            await db.rollback()
        return ms, found

    with_index, found = await timed(False)
    without_index, _ = await timed(True)
    await redis.aclose()
    await engine.dispose()

    def summary(xs: list[float]) -> dict[str, float]:
        return {"p50_ms": round(pct(xs, 50), 2), "p95_ms": round(pct(xs, 95), 2), "max_ms": round(max(xs), 2)}

    return {
        "lots": lots,
        "queries": queries,
        "radius_m": 1000,
        "places_found_mean": round(statistics.mean(found), 1),
        "service_call_with_gist_index": summary(with_index),
        "service_call_index_disabled": summary(without_index),
        "machine": f"{platform.machine()} python {platform.python_version()}",
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--lots", type=int, default=5000)
    p.add_argument("--queries", type=int, default=300)
    a = p.parse_args()
    from parking.kit.embedded import EmbeddedPostgres, EmbeddedRedis
    from tests.conftest import _run_migrations

    base = Path(tempfile.mkdtemp(prefix="bench-places-"))
    base.chmod(0o755)
    pg = EmbeddedPostgres(base / "pg")
    pg.start()
    rd = EmbeddedRedis(base / "redis")
    try:
        pg.psql("CREATE DATABASE bench;")
        url = pg.url("bench")
        _run_migrations(url)
        redis_url = rd.start()
        print(json.dumps(asyncio.run(run(a.lots, a.queries, url, redis_url))))
    finally:
        rd.stop()
        pg.stop()


if __name__ == "__main__":
    main()
