"""Gate events benchmark: concurrent lanes post entry/exit pairs to a running API over HTTP.

    parking bench-setup --lots 8                       # once: lots + lane tokens in .parking/bench/lanes.json
    parking serve --workers 2 &                        # or `make run`
    python benchmarks/gate_events.py --duration 20     # prints one JSON object

Each lot is driven by one entry lane and one exit lane: the entry lane posts a new plate, the exit lane
posts the exit of a plate that entered earlier. Latency is measured per request, client side, end to end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import time
import uuid
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

LETTERS = "ABCDEFGHKLMNPRSTUVXYZ"


def plate(rng: random.Random) -> str:
    province = rng.choice(["29", "30", "51", "59", "88"])
    return f"{province}{rng.choice(LETTERS)}-{rng.randint(100, 999)}.{rng.randint(10, 99)}"


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return 0.0
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


async def drive_lot(
    client: httpx.AsyncClient,
    lot: dict[str, str],
    stop_at: float,
    rng: random.Random,
    lat: list[float],
    errors: list[str],
    counts: dict[str, int],
) -> None:
    inside: deque[str] = deque()
    entry_h = {"Authorization": f"Bearer {lot['entry']}"}
    exit_h = {"Authorization": f"Bearer {lot['exit']}"}
    while time.perf_counter() < stop_at:
        if len(inside) < 5 or rng.random() < 0.5:
            p, kind, headers = plate(rng), "entry", entry_h
        else:
            p, kind, headers = inside.popleft(), "exit", exit_h
        body = {
            "event_id": str(uuid.uuid4()),
            "kind": kind,
            "plate": p,
            "confidence": 0.97,
            "captured_at": (datetime.now(UTC) - timedelta(seconds=1)).isoformat(),
        }
        t0 = time.perf_counter()
        try:
            r = await client.post("/v1/gate/events", json=body, headers=headers)
            ok = r.status_code == 200
            if not ok:
                errors.append(f"{r.status_code} {r.text[:120]}")
            elif kind == "entry" and r.json()["action"] == "open":
                inside.append(p)
        except httpx.HTTPError as exc:
            ok = False
            errors.append(type(exc).__name__)
        lat.append((time.perf_counter() - t0) * 1000)
        counts[kind] += 1


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--tokens", type=Path, default=Path(".parking/bench/lanes.json"))
    ap.add_argument("--lots", type=int, default=0, help="lots to drive (default: all in the tokens file)")
    ap.add_argument("--lanes-per-lot", type=int, default=4, help="concurrent lane loops per lot")
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    if not args.tokens.exists():
        raise SystemExit(f"{args.tokens} not found: run `parking bench-setup` first")
    lots = json.loads(args.tokens.read_text())
    if args.lots:
        lots = lots[: args.lots]
    limits = httpx.Limits(max_connections=len(lots) * args.lanes_per_lot, max_keepalive_connections=1000)
    async with httpx.AsyncClient(base_url=args.url, timeout=10, limits=limits) as client:
        health = (await client.get("/health")).json()
        # Warm-up: connections, statement caches, JIT-free plans. Not measured.
        warm_lat: list[float] = []
        await asyncio.gather(
            *(
                drive_lot(
                    client,
                    lot,
                    time.perf_counter() + args.warmup,
                    random.Random(args.seed + i),
                    warm_lat,
                    [],
                    {"entry": 0, "exit": 0},
                )
                for i, lot in enumerate(lots)
            )
        )
        lat: list[float] = []
        errors: list[str] = []
        counts = {"entry": 0, "exit": 0}
        t0 = time.perf_counter()
        stop_at = t0 + args.duration
        await asyncio.gather(
            *(
                drive_lot(client, lot, stop_at, random.Random(args.seed * 1000 + i * 64 + k), lat, errors, counts)
                for i, lot in enumerate(lots)
                for k in range(args.lanes_per_lot)
            )
        )
        elapsed = time.perf_counter() - t0
    n = len(lat)
    result: dict[str, Any] = {
        "benchmark": "gate_events",
        "url": args.url,
        "lots": len(lots),
        "concurrent_lanes": len(lots) * args.lanes_per_lot,
        "duration_s": round(elapsed, 2),
        "events": n,
        "entries": counts["entry"],
        "exits": counts["exit"],
        "events_per_second": round(n / elapsed, 1),
        "latency_ms": {
            "p50": round(pct(lat, 50), 2),
            "p95": round(pct(lat, 95), 2),
            "p99": round(pct(lat, 99), 2),
            "mean": round(statistics.fmean(lat), 2) if lat else 0.0,
            "max": round(max(lat or [0]), 2),
        },
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:5],
        "server": {"database": health.get("database", {}).get("version")},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
