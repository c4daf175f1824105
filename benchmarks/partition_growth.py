"""Growth with the data (issue 14.5): gate throughput and the exit's lookup latency, empty vs. 20 million events.

    make bench-growth                       # = the command below with the defaults
    .venv/bin/python benchmarks/partition_growth.py [--events 20000000] [--months 18] [--duration 20]

On a fresh embedded PostgreSQL, migrated to head (month-partitioned tables), with 8 benchmark lots:

1. measure: ``--duration`` seconds of gate traffic straight into ``parking.gate.service.handle_event`` (8
   concurrent lanes, one per lot, entries and exits of fresh plates, each event its own committed transaction:
   the gate path without HTTP, as ``benchmarks/gate_service_inprocess.py``), then the exit's lookup alone (the
   statement ``gate_exit_begin`` runs: the plate's open session through ``open_sessions``, then the session by
   id, ``FOR UPDATE``) for the plates left inside, and for contrast the same lookup by ``(lot_id, plate,
   status)`` on ``parking_sessions`` itself (what the exit did before ``open_sessions``: one probe per month);
2. load ``--events`` historical gate events with ``COPY`` (not through the API) spread over ``--months`` past
   months, with the closed sessions they imply (one per entry/exit pair), into their monthly partitions, as a
   bulk restore would: ``session_replication_role = replica`` skips the foreign-key and trigger checks of the
   generated, consistent rows; then ``ANALYZE``;
3. measure again, the same way. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg

from parking.demo.bench import create_bench_lots
from parking.gate import service
from parking.gate.schemas import GateEventIn
from parking.kit import partitions
from parking.kit.db import make_engine, make_sessionmaker
from parking.kit.embedded import EmbeddedPostgres
from parking.lanes.auth import LaneCache, LaneInfo, authenticate
from parking.models.base import new_id
from parking.sessions.fees import load_book
from parking.settings import get_settings
from parking.vocabulary import VN_TZ

REPO = Path(__file__).resolve().parent.parent
LOTS = 8

LOOKUP_VIA_OPEN_SESSIONS = """
SELECT s.id, s.plate, s.vehicle_class, s.entry_at, s.flags, s.review_status, s.review_reason
  FROM parking_sessions s
 WHERE s.id = (SELECT o.session_id FROM open_sessions o WHERE o.lot_id = $1 AND o.plate = $2)
   AND s.status = 'open'
   FOR UPDATE
"""
LOOKUP_EVERY_MONTH = """
SELECT s.id, s.plate, s.vehicle_class, s.entry_at, s.flags, s.review_status, s.review_reason
  FROM parking_sessions s
 WHERE s.lot_id = $1 AND s.plate = $2 AND s.status = 'open'
   FOR UPDATE
"""


def _migrate(url: str) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(REPO / "alembic.ini"))
    cfg.attributes["url"] = url
    command.upgrade(cfg, "head")


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return round(s[min(len(s) - 1, int(q * len(s)))], 3) if s else 0.0


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


class Gate:
    def __init__(self, url: str, lanes: list[dict[str, str]]) -> None:
        self.url, self.lanes = url, lanes
        self.book = load_book(get_settings().config_dir)
        self.rules = service.GateRules()

    async def traffic(self, duration_s: float, seed: int) -> tuple[dict[str, Any], list[tuple[uuid.UUID, str]]]:
        """Entries and exits of fresh plates on every lot at once; returns the figures and the plates inside."""
        engine = make_engine(self.url, LOTS)
        sm = make_sessionmaker(engine)
        cache = LaneCache()
        pairs: list[tuple[LaneInfo, LaneInfo]] = []
        async with sm() as db:
            for lane in self.lanes:
                pairs.append(
                    (
                        await authenticate(db, cache, "Bearer " + lane["entry"]),
                        await authenticate(db, cache, "Bearer " + lane["exit"]),
                    )
                )
        latencies: dict[str, list[float]] = {"entry": [], "exit": []}
        inside: list[tuple[uuid.UUID, str]] = []
        deadline = time.perf_counter() + duration_s

        async def lane_loop(i: int, entry: LaneInfo, exit_: LaneInfo) -> None:
            rng = random.Random(seed * 100 + i)
            parked: list[str] = []
            while time.perf_counter() < deadline:
                if len(parked) < 40 or rng.random() < 0.5:
                    kind, lane = "entry", entry
                    plate = f"{rng.choice((29, 30, 31, 32, 33, 40))}{rng.choice('ACDEFGHK')}{rng.randint(10000, 99999)}"
                else:
                    kind, lane = "exit", exit_
                    plate = parked.pop(rng.randrange(len(parked)))
                ev = GateEventIn(
                    event_id=new_id(), kind=kind, plate=plate, confidence=0.95, captured_at=datetime.now(UTC)
                )
                t0 = time.perf_counter()
                async with sm() as db:
                    await service.handle_event(db, ev, lane, self.rules, self.book, datetime.now(UTC))
                    await db.commit()
                latencies[kind].append((time.perf_counter() - t0) * 1000)
                if kind == "entry":
                    parked.append(plate)
            inside.extend((entry.lot_id, p) for p in parked)

        t0, c0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(lane_loop(i, e, x) for i, (e, x) in enumerate(pairs)))
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        await engine.dispose()
        n = len(latencies["entry"]) + len(latencies["exit"])
        every = latencies["entry"] + latencies["exit"]
        return {
            "events": n,
            "events_per_second": round(n / elapsed, 1),
            "p50_ms": _pct(every, 0.5),
            "p99_ms": _pct(every, 0.99),
            "exit_p50_ms": _pct(latencies["exit"], 0.5),
            "exit_p99_ms": _pct(latencies["exit"], 0.99),
            # This process's CPU per event (our Python, SQLAlchemy, asyncpg): barely moved by other programs'
            # load on a shared machine, unlike the wall-clock figures.
            "python_cpu_ms_per_event": round(cpu / max(n, 1) * 1000, 2),
        }, inside

    async def lookup(self, inside: list[tuple[uuid.UUID, str]], rounds: int) -> dict[str, Any]:
        conn = await asyncpg.connect(_dsn(self.url))
        out: dict[str, Any] = {"plates_inside": len(inside)}
        try:
            for name, sql in (("via_open_sessions", LOOKUP_VIA_OPEN_SESSIONS), ("every_month", LOOKUP_EVERY_MONTH)):
                stmt = await conn.prepare(sql)
                found, times = 0, []
                for r in range(rounds):
                    lot_id, plate = inside[r % len(inside)]
                    t0 = time.perf_counter()
                    async with conn.transaction():
                        row = await stmt.fetchrow(lot_id, plate)
                    times.append((time.perf_counter() - t0) * 1000)
                    found += row is not None
                lot_id, plate = inside[0]
                plan = await conn.fetchval(
                    "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "
                    + sql.replace("$1", f"'{lot_id}'").replace("$2", f"'{plate}'")
                )
                out[name] = {
                    "lookups": rounds,
                    "found": found,
                    "p50_ms": _pct(times, 0.5),
                    "p99_ms": _pct(times, 0.99),
                    "session_partitions_read": _partitions_read(json.loads(plan)[0]["Plan"]),
                    # Pages one lookup touches (shared buffers hit + read): the load-independent measure.
                    "buffers_per_lookup": json.loads(plan)[0]["Plan"].get("Shared Hit Blocks", 0)
                    + json.loads(plan)[0]["Plan"].get("Shared Read Blocks", 0),
                }
        finally:
            await conn.close()
        return out


def _partitions_read(node: dict[str, Any]) -> int:
    own = int(str(node.get("Relation Name", "")).startswith("parking_sessions_") and node.get("Actual Loops", 0) > 0)
    return own + sum(_partitions_read(child) for child in node.get("Plans", []))


def _uuid7_text(ms: int, rnd: random.Random) -> str:
    h = f"{(ms << 80) | (0x7 << 76) | (rnd.getrandbits(12) << 64) | (0b10 << 62) | rnd.getrandbits(62):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _ts(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


async def _history(
    seed: int, pairs: int, start_ms: int, end_ms: int, lots: list[tuple[str, str, str]], what: str
) -> AsyncIterator[bytes]:
    """The generated history, in time order, as COPY text: ``what`` is "events" or "sessions" (the same seed
    gives the same pairs in both passes)."""
    rnd = random.Random(seed)
    step = (end_ms - start_ms) / pairs
    plates = [f"{rnd.randint(10, 99)}A{rnd.randint(10000, 99999)}" for _ in range(200_000)]
    buf: list[str] = []
    for i in range(pairs):
        entry_ms = start_ms + int(i * step)
        exit_ms = entry_ms + rnd.randint(10 * 60_000, 8 * 3_600_000)
        lot_id, entry_lane, exit_lane = lots[rnd.randrange(len(lots))]
        plate = plates[rnd.randrange(len(plates))]
        entry_id, exit_id, session_id = (
            _uuid7_text(entry_ms, rnd),
            _uuid7_text(exit_ms, rnd),
            _uuid7_text(entry_ms, rnd),
        )
        fee = rnd.choice((25000, 30000, 45000, 60000))
        entry_at, exit_at = _ts(entry_ms), _ts(exit_ms)
        if what == "events":
            buf.append(
                f"{entry_id}\t{entry_lane}\t{lot_id}\tentry\t{plate}\t{plate}\t0.95\tcar_small\t{entry_at}\t{entry_at}"
                f'\th{i}e\t{session_id}\t{{"action": "open"}}\tf\n'
                f"{exit_id}\t{exit_lane}\t{lot_id}\texit\t{plate}\t{plate}\t0.95\tcar_small\t{exit_at}\t{exit_at}"
                f'\th{i}x\t{session_id}\t{{"action": "open", "fee_vnd": {fee}}}\tf\n'
            )
        else:
            buf.append(
                f"{session_id}\t{lot_id}\tcar_small\t{plate}\tclosed\t{entry_id}\t{exit_id}\t{entry_at}\t{exit_at}"
                f"\t{{}}\tnone\t{fee}\thanoi-44-2017\tpaid\t{entry_at}\t{exit_at}\n"
            )
        if len(buf) >= 20_000:
            yield "".join(buf).encode()
            buf.clear()
            await asyncio.sleep(0)
    if buf:
        yield "".join(buf).encode()


EVENT_COLUMNS = [
    "id", "lane_id", "lot_id", "kind", "plate_read", "plate", "confidence", "vehicle_class", "captured_at",
    "received_at", "request_hash", "session_id", "decision", "has_image",
]  # fmt: skip
SESSION_COLUMNS = [
    "id", "lot_id", "vehicle_class", "plate", "status", "entry_event_id", "exit_event_id", "entry_at", "exit_at",
    "flags", "review_status", "fee_vnd", "tariff_id", "payment_status", "created_at", "updated_at",
]  # fmt: skip


async def load_history(url: str, events: int, months: int) -> dict[str, Any]:
    conn = await asyncpg.connect(_dsn(url))
    try:
        today = datetime.now(VN_TZ).date()
        first = partitions.add_months(today, -months)
        for t, key in (("gate_events", "uuid"), ("parking_sessions", "uuid")):
            for n in range(months):
                await conn.execute(partitions.create_partition_sql(t, key, partitions.add_months(first, n)))
        lots = [
            (str(r["lot_id"]), str(r["entry"]), str(r["exit"]))
            for r in await conn.fetch(
                "SELECT lot_id, max(id::text) FILTER (WHERE direction = 'entry') AS entry, "
                "max(id::text) FILTER (WHERE direction = 'exit') AS exit FROM lanes GROUP BY lot_id"
            )
        ]
        start_ms = int(partitions.month_instant(first).timestamp() * 1000)
        end_ms = int(partitions.month_instant(date(today.year, today.month, 1)).timestamp() * 1000) - 9 * 3_600_000
        await conn.execute("SET session_replication_role = replica")
        t0 = time.perf_counter()
        await conn.copy_to_table(
            "gate_events", source=_history(7, events // 2, start_ms, end_ms, lots, "events"), columns=EVENT_COLUMNS
        )
        t1 = time.perf_counter()
        await conn.copy_to_table(
            "parking_sessions",
            source=_history(7, events // 2, start_ms, end_ms, lots, "sessions"),
            columns=SESSION_COLUMNS,
        )
        t2 = time.perf_counter()
        await conn.execute("SET session_replication_role = origin")
        # As after a bulk restore: statistics, visibility map and a checkpoint now, so the measurement that follows
        # does not share the machine with autovacuum's first pass over the new months.
        await conn.execute("VACUUM (ANALYZE) gate_events, parking_sessions", timeout=3600)
        await conn.execute("CHECKPOINT", timeout=3600)
        t3 = time.perf_counter()
        counts = {
            "gate_events": await conn.fetchval("SELECT count(*) FROM gate_events"),
            "parking_sessions": await conn.fetchval("SELECT count(*) FROM parking_sessions"),
            "gate_event_partitions": len(
                await conn.fetch("SELECT 1 FROM pg_inherits WHERE inhparent = 'gate_events'::regclass")
            ),
            "database_gb": round(await conn.fetchval("SELECT pg_database_size(current_database())") / 1e9, 2),
        }
    finally:
        await conn.close()
    return {
        "months": months,
        "copy_events_s": round(t1 - t0, 1),
        "copy_sessions_s": round(t2 - t1, 1),
        "vacuum_analyze_checkpoint_s": round(t3 - t2, 1),
        "events_copied_per_second": round(events / (t1 - t0)),
        **counts,
    }


async def run(url: str, args: argparse.Namespace) -> dict[str, Any]:
    lanes = await create_bench_lots(url, LOTS)
    gate = Gate(url, lanes)
    result: dict[str, Any] = {"benchmark": "partition_growth", "load_average_1m_start": os.getloadavg()[0]}
    await gate.traffic(3, seed=0)  # warm-up: connections, statement caches
    empty, inside = await gate.traffic(args.duration, seed=1)
    result["empty"] = {"gate": empty, "exit_lookup": await gate.lookup(inside, args.lookups)}
    result["history"] = await load_history(url, args.events, args.months)
    result["load_average_1m_after_load"] = os.getloadavg()[0]
    await gate.traffic(3, seed=2)
    full, inside = await gate.traffic(args.duration, seed=3)
    result["after_history"] = {"gate": full, "exit_lookup": await gate.lookup(inside, args.lookups)}
    result["ratio_events_per_second"] = round(full["events_per_second"] / empty["events_per_second"], 3)
    result["load_average_1m_end"] = os.getloadavg()[0]
    result["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=20_000_000, help="historical gate events COPY-loaded")
    ap.add_argument("--months", type=int, default=18, help="past months they are spread over")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds of gate traffic per measurement")
    ap.add_argument("--lookups", type=int, default=3000, help="exit lookups timed per measurement")
    ap.add_argument("--workdir", type=Path, default=None, help="where the temporary database lives")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="parking-growth-", dir=args.workdir))
    base.chmod(0o755)  # the embedded server runs as its own user
    pg = EmbeddedPostgres(base / "data")
    pg.start()
    try:
        for setting in ("max_wal_size = '16GB'", "checkpoint_timeout = '30min'", "synchronous_commit = off"):
            pg.psql(f"ALTER SYSTEM SET {setting};")
        pg.psql("SELECT pg_reload_conf();")
        pg.psql("CREATE DATABASE growth;")
        url = pg.url("growth")
        _migrate(url)
        print(json.dumps(asyncio.run(run(url, args))))
    finally:
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
