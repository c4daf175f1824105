"""The gate service without HTTP: how much of an event's cost is our own code and the database.

    PARKING_DATA_DIR=/tmp/benchdata .venv/bin/parking bench-setup --lots 2 --out /tmp/benchdata/lanes.json
    PARKING_DATA_DIR=/tmp/benchdata .venv/bin/python benchmarks/gate_service_inprocess.py \
        --tokens /tmp/benchdata/lanes.json [--profile]

Posts entry/exit pairs one after the other straight into ``parking.gate.service.handle_event`` (each in its own
transaction, committed), on the embedded (or configured) PostgreSQL. Prints one JSON object; with --profile
also prints the top of a cProfile of our own modules to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import platform
import pstats
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from parking.cli import services
from parking.gate import service
from parking.gate.schemas import GateEventIn
from parking.kit.db import make_engine, make_sessionmaker
from parking.lanes.auth import LaneCache, authenticate
from parking.sessions.fees import load_book
from parking.settings import get_settings


async def run(db_url: str, lanes: list[dict[str, str]], pairs: int, profile: bool) -> dict[str, Any]:
    settings = get_settings()
    engine = make_engine(db_url, 5)
    sm = make_sessionmaker(engine)
    cache, book, rules = LaneCache(), load_book(settings.config_dir), service.GateRules()
    rng = random.Random(5)
    async with sm() as db:
        entry = await authenticate(db, cache, "Bearer " + lanes[0]["entry"])
        exit_ = await authenticate(db, cache, "Bearer " + lanes[0]["exit"])

    async def pair() -> None:
        plate = f"30A-{rng.randint(100, 999)}.{rng.randint(10, 99)}"
        for kind, lane, ago in (("entry", entry, 2), ("exit", exit_, 1)):
            ev = GateEventIn(
                event_id=uuid.uuid4(),
                kind=kind,
                plate=plate,
                confidence=0.9,
                captured_at=datetime.now(UTC) - timedelta(seconds=ago),
            )
            async with sm() as db:
                await service.handle_event(db, ev, lane, rules, book, datetime.now(UTC))
                await db.commit()

    for _ in range(30):  # warm-up: connections, statement caches
        await pair()
    prof = cProfile.Profile() if profile else None
    t0, c0 = time.perf_counter(), time.process_time()
    if prof:
        prof.enable()
    for _ in range(pairs):
        await pair()
    if prof:
        prof.disable()
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats("parking/", 25)
        print(out.getvalue(), file=sys.stderr)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    await engine.dispose()
    return {
        "benchmark": "gate_service_inprocess",
        "events": 2 * pairs,
        "events_per_second_sequential": round(2 * pairs / elapsed, 1),
        "ms_per_event": round(elapsed / (2 * pairs) * 1000, 2),
        # CPU of this process (our Python + SQLAlchemy + asyncpg) per event: unlike wall time, it barely moves
        # with the load other programs put on a shared machine.
        "python_cpu_ms_per_event": round(cpu / (2 * pairs) * 1000, 2),
        "profiled": profile,
        "load_average_1m": os.getloadavg()[0],
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=Path, default=Path(".parking/bench/lanes.json"))
    ap.add_argument("--pairs", type=int, default=200)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    lanes = json.loads(args.tokens.read_text())
    with services(get_settings()) as (db_url, _):
        print(json.dumps(asyncio.run(run(db_url, lanes, args.pairs, args.profile))))


if __name__ == "__main__":
    main()
