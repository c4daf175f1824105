"""Quotes per second of the pricing engine, one process, one core.

    .venv/bin/python benchmarks/pricing_quotes.py [--n 50000] [--repeats 5] [--seed 1]

Prints one JSON object. `quotes_per_second` is wall-clock; `quotes_per_cpu_second` divides by this
process's CPU time, which is the fairer "one core" figure when other jobs share the machine.
Stays are drawn (seeded) over every shipped tariff, zone and vehicle class,
with entries spread over 2026 in mixed UTC offsets and stays from 0 to 72 hours (most under 12 h).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from parking.pricing import load_tariff_book, quote  # noqa: E402


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=50_000, help="quotes per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    t0 = time.perf_counter()
    book = load_tariff_book(ROOT / "config" / "tariffs", vat_path=ROOT / "config" / "vat.toml")
    load_ms = (time.perf_counter() - t0) * 1000

    combos = sorted({(tid, zone, vc) for tid, vs in book.versions.items() for v in vs for (zone, vc) in v.rule_for})
    rng = random.Random(args.seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    offsets = [UTC, timezone(timedelta(hours=7)), timezone(timedelta(hours=-5))]
    stays = []
    for _ in range(args.n):
        tid, zone, vc = rng.choice(combos)
        entry = (start + timedelta(seconds=rng.randrange(365 * 86400))).astimezone(rng.choice(offsets))
        hours = rng.expovariate(1 / 4) if rng.random() < 0.9 else rng.uniform(12, 72)
        stays.append((tid, zone, vc, entry, entry + timedelta(seconds=int(hours * 3600))))

    for tid, zone, vc, entry, exit in stays[:2000]:  # warm-up
        quote(book, tariff_id=tid, zone=zone, vehicle_class=vc, entry=entry, exit=exit)

    rates = []
    cpu_rates = []  # per CPU-second of this process: less sensitive to other jobs on a shared machine
    checksum = 0
    for _ in range(args.repeats):
        checksum = 0
        t, c = time.perf_counter(), time.process_time()
        for tid, zone, vc, entry, exit in stays:
            q = quote(book, tariff_id=tid, zone=zone, vehicle_class=vc, entry=entry, exit=exit)
            checksum += q.total_vnd
        cpu_rates.append(args.n / (time.process_time() - c))
        rates.append(args.n / (time.perf_counter() - t))

    t = time.perf_counter()
    for tid, zone, vc, entry, exit in stays[:10_000]:
        quote(book, tariff_id=tid, zone=zone, vehicle_class=vc, entry=entry, exit=exit).to_dict()
    with_dict_rate = min(10_000, args.n) / (time.perf_counter() - t)

    print(
        json.dumps(
            {
                "benchmark": "pricing_quotes",
                "quotes_per_second": round(statistics.median(rates)),
                "quotes_per_second_best": round(max(rates)),
                "quotes_per_second_all": [round(r) for r in rates],
                "quotes_per_cpu_second": round(statistics.median(cpu_rates)),
                "load_average_1m": round(os.getloadavg()[0], 2),
                "quotes_plus_to_dict_per_second": round(with_dict_rate),
                "n": args.n,
                "repeats": args.repeats,
                "seed": args.seed,
                "combos": len(combos),
                "total_vnd_checksum": checksum,
                "tariff_book_load_ms": round(load_ms, 1),
                "machine": {
                    "cpu": cpu_model(),
                    "logical_cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "implementation": platform.python_implementation(),
                    "platform": platform.platform(),
                },
                "processes": 1,
            }
        )
    )


if __name__ == "__main__":
    main()
