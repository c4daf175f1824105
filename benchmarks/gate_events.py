"""Gate events benchmark: concurrent lanes post entry/exit pairs to a running API over HTTP.

    parking bench-setup --lots 8                       # once: lots + lane tokens in .parking/bench/lanes.json
    parking serve --workers 2 &                        # or `make run`
    python benchmarks/gate_events.py --duration 20     # prints one JSON object

    python benchmarks/gate_events.py --baseline        # self-contained side-by-side (issue 14.1)

``--baseline`` starts its own embedded PostgreSQL and Redis, migrates, seeds the lots, serves the platform with
``--workers`` uvicorn workers and drives it; then, in the same invocation and against the same PostgreSQL, serves
the minimal FastAPI + asyncpg endpoint of ``benchmarks/baseline_app.py`` (one INSERT per request) with the same
workers and drives it with the same lanes. It prints both figures and their ratio, with the machine's load
average read just before each run (the machine may be shared: a loaded box makes both figures lower).

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
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

LETTERS = "ABCDEFGHKLMNPRSTUVXYZ"
REPO = Path(__file__).resolve().parents[1]


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
    acked: list[str] | None = None,
    resend: float = 0.0,
) -> None:
    """One lane loop. `acked` collects the ids of events answered 200 (first answers only); with `resend` > 0
    that fraction of answered events is posted again (a lane whose answer was lost), which must be a replay."""
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
            else:
                answer = r.json()
                if kind == "entry" and answer["action"] == "open":
                    inside.append(p)
                if acked is not None:
                    acked.append(str(body["event_id"]))
                if resend and rng.random() < resend:
                    again = (await client.post("/v1/gate/events", json=body, headers=headers)).json()
                    counts["resent"] = counts.get("resent", 0) + 1
                    if again.get("replayed") is not True or again.get("session_id") != answer.get("session_id"):
                        errors.append(f"resend not replayed: {str(again)[:100]}")
        except httpx.HTTPError as exc:
            ok = False
            errors.append(type(exc).__name__)
        lat.append((time.perf_counter() - t0) * 1000)
        counts[kind] += 1


async def drive(url: str, lots: list[dict[str, str]], args: argparse.Namespace) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=len(lots) * args.lanes_per_lot, max_keepalive_connections=1000)
    async with httpx.AsyncClient(base_url=url, timeout=10, limits=limits) as client:
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
        load_before = [round(x, 2) for x in os.getloadavg()]
        lat: list[float] = []
        errors: list[str] = []
        counts = {"entry": 0, "exit": 0}
        t0 = time.perf_counter()
        stop_at = t0 + args.duration
        acked: list[str] = []
        await asyncio.gather(
            *(
                drive_lot(
                    client,
                    lot,
                    stop_at,
                    random.Random(args.seed * 1000 + i * 64 + k),
                    lat,
                    errors,
                    counts,
                    acked,
                    args.resend,
                )
                for i, lot in enumerate(lots)
                for k in range(args.lanes_per_lot)
            )
        )
        elapsed = time.perf_counter() - t0
    n = len(lat)
    return {
        "url": url,
        "lots": len(lots),
        "concurrent_lanes": len(lots) * args.lanes_per_lot,
        "load_average_before": load_before,
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
        "resent": counts.get("resent", 0),
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:5],
        "server": {"database": health.get("database", {}).get("version")},
        "_acked": acked,
    }


def _machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}


def _wait_http(url: str, proc: subprocess.Popen[bytes], within: float = 90.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server for {url} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=0.5).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def _serve(app: str, port: int, workers: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    if app.endswith("create_app"):
        cmd.append("--factory")
    with open(log, "wb") as out:
        return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


NGINX_CONF = """
worker_processes 1;
pid {base}/nginx.pid;
error_log {base}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {base}/nginx-body;
    proxy_temp_path {base}/nginx-proxy;
    upstream parking {{
        least_conn;
        {servers}
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://parking;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
        }}
    }}
}}
"""


def _behind_nginx(
    args: argparse.Namespace,
    env: dict[str, str],
    base: Path,
    procs: list[subprocess.Popen[bytes]],
    free_port: Any,
) -> str:
    """`--instances` API processes (one worker each, background work under the single-leader lock) behind nginx."""
    ports = [free_port() for _ in range(args.instances)]
    for i, port in enumerate(ports):
        inst_env = dict(env, PARKING_PORT=str(port), PARKING_JOBS_SINGLE_LEADER="true")
        inst_env["PARKING_PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
        procs.append(_serve("parking.app:create_app", port, 1, inst_env, base / f"platform-{i}.log"))
    for port, proc in zip(ports, procs, strict=True):
        _wait_http(f"http://127.0.0.1:{port}/health", proc)
    lb_port = free_port()
    conf = base / "nginx.conf"
    servers = "\n        ".join(f"server 127.0.0.1:{p};" for p in ports)
    conf.write_text(NGINX_CONF.format(base=base, servers=servers, port=lb_port))
    with open(base / "nginx.log", "wb") as log:
        procs.append(subprocess.Popen(["nginx", "-c", str(conf), "-g", "daemon off;"], stdout=log, stderr=log))
    _wait_http(f"http://127.0.0.1:{lb_port}/health", procs[-1])
    return f"http://127.0.0.1:{lb_port}"


async def _check_stored(db_url: str, acked: list[str]) -> dict[str, int]:
    """Every acknowledged event stored exactly once; no plate open twice in a lot."""
    import asyncpg

    conn = await asyncpg.connect(db_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        ids = [uuid.UUID(i) for i in acked]
        stored = await conn.fetchval("SELECT count(*) FROM gate_events WHERE id = ANY($1::uuid[])", ids)
        open_twice = await conn.fetchval(
            "SELECT count(*) FROM (SELECT 1 FROM parking_sessions WHERE status = 'open' AND plate IS NOT NULL "
            "GROUP BY lot_id, plate HAVING count(*) > 1) t"
        )
        sessions_per_event = await conn.fetchval(
            "SELECT count(*) FROM (SELECT entry_event_id FROM parking_sessions WHERE entry_event_id = ANY($1::uuid[]) "
            "GROUP BY 1 HAVING count(*) > 1) t",
            ids,
        )
    finally:
        await conn.close()
    return {
        "acknowledged": len(acked),
        "distinct_acknowledged": len(set(acked)),
        "stored": int(stored),
        "lost": len(set(acked)) - int(stored),
        "plates_open_twice": int(open_twice),
        "events_with_two_sessions": int(sessions_per_event),
    }


def side_by_side(args: argparse.Namespace) -> dict[str, Any]:
    """Platform and minimal endpoint, one after the other, on the same embedded PostgreSQL."""
    sys.path.insert(0, str(REPO))
    from parking.cli import run_migrations
    from parking.demo.bench import create_bench_lots
    from parking.kit.embedded import EmbeddedPostgres, EmbeddedRedis, ensure_database, free_port

    base = Path(tempfile.mkdtemp(prefix="parking-bench-gate-"))
    base.chmod(0o755)  # the embedded server runs as its own user
    pg, rd = EmbeddedPostgres(base / "pg"), EmbeddedRedis(base / "redis")
    pg.start()
    try:
        db_url = ensure_database(pg, "bench")
        redis_url = rd.start()
        run_migrations(db_url)
        lots = asyncio.run(create_bench_lots(db_url, args.lots or 8))
        lots = [{"entry": lot["entry"], "exit": lot["exit"]} for lot in lots]
        env = dict(
            os.environ,
            PARKING_DATABASE_URL=db_url,
            PARKING_REDIS_URL=redis_url,
            PARKING_LOG_LEVEL="WARNING",
            PARKING_MODE="test",  # a throw-away database: the fixed development secrets, no refusal to start
            PARKING_DB_POOL_SIZE=str(args.pool),
            BASELINE_DATABASE_URL=db_url,
            BASELINE_POOL=str(args.pool),
            PYTHONPATH=str(REPO),
        )
        out: dict[str, Any] = {"benchmark": "gate_events", "workers": args.workers, "machine": _machine()}
        runs = [("platform", "parking.app:create_app"), ("baseline", "benchmarks.baseline_app:app")]
        if args.baseline_only:
            runs = runs[1:]
        if args.instances > 1:
            runs = [("platform", "parking.app:create_app")]
        for name, app in runs:
            procs: list[subprocess.Popen[bytes]] = []
            try:
                if name == "platform" and args.instances > 1:
                    url = _behind_nginx(args, env, base, procs, free_port)
                else:
                    port = free_port()
                    env["PARKING_PORT"], env["PARKING_PUBLIC_BASE_URL"] = str(port), f"http://127.0.0.1:{port}"
                    procs.append(_serve(app, port, args.workers, env, base / f"{name}.log"))
                    _wait_http(f"http://127.0.0.1:{port}/health", procs[-1])
                    url = f"http://127.0.0.1:{port}"
                out[name] = asyncio.run(drive(url, lots, args))
                acked = out[name].pop("_acked")
                if name == "platform":
                    out[name]["stored"] = asyncio.run(_check_stored(db_url, acked))
            finally:
                for proc in reversed(procs):
                    _stop(proc)
        if "platform" in out and "baseline" in out:
            p, b = out["platform"], out["baseline"]
            out["ratio"] = {
                "events_per_second": round(p["events_per_second"] / max(b["events_per_second"], 1e-9), 3),
                "p99": round(p["latency_ms"]["p99"] / max(b["latency_ms"]["p99"], 1e-9), 2),
            }
        return out
    finally:
        rd.stop()
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--tokens", type=Path, default=Path(".parking/bench/lanes.json"))
    ap.add_argument("--lots", type=int, default=0, help="lots to drive (default: all in the tokens file)")
    ap.add_argument("--lanes-per-lot", type=int, default=4, help="concurrent lane loops per lot")
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--baseline", action="store_true", help="self-contained: platform and minimal endpoint")
    ap.add_argument("--baseline-only", action="store_true", help="with --baseline: the minimal endpoint alone")
    ap.add_argument("--workers", type=int, default=2, help="with --baseline: uvicorn workers of each server")
    ap.add_argument("--pool", type=int, default=20, help="with --baseline: connection pool per worker")
    ap.add_argument(
        "--instances", type=int, default=1, help="with --baseline: N API processes behind nginx (platform only)"
    )
    ap.add_argument("--resend", type=float, default=0.0, help="fraction of answered events posted again")
    args = ap.parse_args()
    if args.baseline:
        print(json.dumps(await asyncio.to_thread(side_by_side, args), indent=2))
        return
    if not args.tokens.exists():
        raise SystemExit(f"{args.tokens} not found: run `parking bench-setup` first")
    lots = json.loads(args.tokens.read_text())
    if args.lots:
        lots = lots[: args.lots]
    result = {"benchmark": "gate_events", **await drive(args.url, lots, args), "machine": _machine()}
    result.pop("_acked")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
