"""`make chaos`: the chaos harness over many seeds against its own embedded PostgreSQL and Redis.

    python -m tests.chaos.soak --seeds 1-10 --vehicles 20 [--out .parking/chaos]

Prints one JSON object per seed and a summary (sum of every figure over the seeds); exits 1 when any
invariant was broken.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault("PARKING_MODE", "test")
os.environ.setdefault("PARKING_INVOICE_CERT_DIR", tempfile.mkdtemp(prefix="parking-chaos-certs-"))

from parking.kit.embedded import EmbeddedPostgres, EmbeddedRedis, ensure_database
from tests.chaos.harness import report, run_one


def _seeds(spec: str) -> list[int]:
    out: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="1-10")
    ap.add_argument("--vehicles", type=int, default=20)
    ap.add_argument("--fault-every-s", type=float, default=1.5)
    ap.add_argument("--out", default=None, help="keep logs here (default: a temporary folder, removed)")
    a = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="parking-chaos-"))
    base.chmod(0o755)  # the embedded PostgreSQL runs as its own user
    work = Path(a.out) if a.out else base / "runs"
    pg = EmbeddedPostgres(base / "pg")
    rd = EmbeddedRedis(base / "redis")
    pg.start()
    try:
        db_url = ensure_database(pg, "parking_chaos")
        redis_url = rd.start()
        from tests.conftest import _run_migrations

        _run_migrations(db_url)
        totals: dict[str, float] = {}
        broken = 0
        for seed in _seeds(a.seeds):
            fig = run_one(seed, a.vehicles, work, db_url, redis_url, fault_every_s=a.fault_every_s)
            print(report(fig), flush=True)
            broken += bool(fig.zero_violations())
            for k, v in asdict(fig).items():
                if isinstance(v, int | float) and k != "seed":
                    totals[k] = totals.get(k, 0) + v
        print(json.dumps({"summary": {"seeds": a.seeds, "seeds_with_violations": broken, **totals}}), flush=True)
    finally:
        rd.stop()
        pg.stop()
        if not a.out:
            shutil.rmtree(base, ignore_errors=True)
    raise SystemExit(1 if broken else 0)


if __name__ == "__main__":
    main()
