"""Horizontal scaling on one machine: N `parking serve` instances behind nginx, one PostgreSQL, one Redis.

    python benchmarks/horizontal.py --instances 3 --duration 20      # prints one JSON object

It starts embedded PostgreSQL and Redis (or uses PARKING_DATABASE_URL / PARKING_REDIS_URL), migrates, creates
benchmark lots, starts the API instances on free ports and nginx (Debian's package: `apt-get install nginx-light`)
as a round-robin reverse proxy in front of them, then drives every lot's lanes through nginx. Every event id the
client sent is checked in the database afterwards: stored exactly once, and never two open sessions for a plate.
With --no-proxy it drives one instance directly: the same-run baseline the proxied figure is compared with.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from anywhere

from parking.kit.embedded import EmbeddedPostgres, EmbeddedRedis, ensure_database, free_port  # noqa: E402

LETTERS = "ABCDEFGHKLMNPRSTUVXYZ"

NGINX_CONF = """
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  upstream parking_api {{
{servers}
    keepalive 256;
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://parking_api;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $remote_addr;
      # A gate event is idempotent on its device-minted id, so nginx may retry it on another instance.
      proxy_next_upstream error timeout http_502 http_503 non_idempotent;
    }}
  }}
}}
"""


def plate(rng: random.Random) -> str:
    return f"{rng.choice(['29', '30', '51', '88'])}{rng.choice(LETTERS)}-{rng.randint(100, 999)}.{rng.randint(10, 99)}"


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))] if xs else 0.0


async def drive(
    client: httpx.AsyncClient, lot: dict[str, str], stop_at: float, rng: random.Random, out: dict[str, Any]
) -> None:
    inside: deque[str] = deque()
    while time.perf_counter() < stop_at:
        if len(inside) < 5 or rng.random() < 0.5:
            p, kind, token = plate(rng), "entry", lot["entry"]
        else:
            p, kind, token = inside.popleft(), "exit", lot["exit"]
        eid = str(uuid.uuid4())
        body = {
            "event_id": eid,
            "kind": kind,
            "plate": p,
            "confidence": 0.97,
            "captured_at": (datetime.now(UTC) - timedelta(seconds=1)).isoformat(),
        }
        t0 = time.perf_counter()
        out["sent"].append(eid)
        try:
            r = await client.post("/v1/gate/events", json=body, headers={"Authorization": f"Bearer {token}"})
            if r.status_code == 200:
                out["acked"].append(eid)
                if kind == "entry" and r.json()["action"] == "open":
                    inside.append(p)
            else:
                out["errors"].append(f"{r.status_code} {r.text[:100]}")
        except httpx.HTTPError as exc:
            out["errors"].append(type(exc).__name__)
        out["lat"].append((time.perf_counter() - t0) * 1000)


def wait_http(url: str, deadline_s: float = 60) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {deadline_s} s")


async def check_db(db_url: str, sent: list[str], acked: list[str]) -> dict[str, int]:
    conn = await asyncpg.connect(db_url.replace("+asyncpg", ""))
    try:
        rows = await conn.fetch("SELECT id::text AS id FROM gate_events WHERE id = ANY($1::uuid[])", sent)
        stored = [r["id"] for r in rows]
        open_twice = await conn.fetchval(
            "SELECT count(*) FROM (SELECT lot_id, plate FROM parking_sessions WHERE status = 'open'"
            " GROUP BY lot_id, plate HAVING count(*) > 1) t"
        )
    finally:
        await conn.close()
    return {
        "sent": len(sent),
        "acknowledged": len(acked),
        "stored": len(stored),
        "stored_twice": len(stored) - len(set(stored)),
        "acknowledged_not_stored": len(set(acked) - set(stored)),
        "sessions_open_twice": int(open_twice),
    }


async def load(url: str, lots: list[dict[str, str]], lanes_per_lot: int, duration: float, seed: int) -> dict[str, Any]:
    out: dict[str, Any] = {"sent": [], "acked": [], "errors": [], "lat": []}
    limits = httpx.Limits(max_connections=len(lots) * lanes_per_lot, max_keepalive_connections=1000)
    async with httpx.AsyncClient(base_url=url, timeout=15, limits=limits) as client:
        t0 = time.perf_counter()
        await asyncio.gather(
            *(
                drive(client, lot, t0 + duration, random.Random(seed * 1000 + i * 64 + k), out)
                for i, lot in enumerate(lots)
                for k in range(lanes_per_lot)
            )
        )
        out["elapsed"] = time.perf_counter() - t0
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", type=int, default=3)
    ap.add_argument("--lots", type=int, default=8)
    ap.add_argument("--lanes-per-lot", type=int, default=2)
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--kill-one", action="store_true", help="kill -9 one instance half-way (nginx retries)")
    args = ap.parse_args()
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise SystemExit("nginx not found: apt-get install nginx-light")

    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="parking-horizontal-"))
    tmp.chmod(0o755)
    procs: list[subprocess.Popen[bytes]] = []
    pg = rd = None
    try:
        db_url, redis_url = os.environ.get("PARKING_DATABASE_URL"), os.environ.get("PARKING_REDIS_URL")
        if not db_url:
            pg = EmbeddedPostgres(tmp / "pg")
            pg.start()
            db_url = ensure_database(pg, "parking")
        if not redis_url:
            rd = EmbeddedRedis(tmp / "redis")
            redis_url = rd.start()
        env = {**os.environ, "PARKING_DATABASE_URL": db_url, "PARKING_REDIS_URL": redis_url}
        env.setdefault("PARKING_MODE", "test")  # throw-away secrets for a throw-away database
        env["PARKING_DATA_DIR"] = str(tmp / "data")
        env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
        tokens = tmp / "lanes.json"
        subprocess.run(
            [sys.executable, "-m", "parking", "bench-setup", "--lots", str(args.lots), "--out", str(tokens)],
            env=env,
            check=True,
            capture_output=True,
        )
        lots = json.loads(tokens.read_text())
        ports = [free_port() for _ in range(args.instances)]
        for port in ports:
            penv = {**env, "PARKING_PORT": str(port), "PARKING_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"}
            log = (tmp / f"api-{port}.log").open("wb")
            procs.append(subprocess.Popen([sys.executable, "-m", "parking", "serve"], env=penv, stdout=log, stderr=log))
        for port in ports:
            wait_http(f"http://127.0.0.1:{port}/health")
        proxy_port = free_port()
        for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (tmp / d).mkdir()
        servers = "\n".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;" for p in ports)
        (tmp / "nginx.conf").write_text(NGINX_CONF.format(tmp=tmp, servers=servers, port=proxy_port))
        nginx_proc = subprocess.Popen([nginx, "-c", str(tmp / "nginx.conf"), "-g", "daemon off;"])
        procs.append(nginx_proc)
        wait_http(f"http://127.0.0.1:{proxy_port}/health")

        async def run() -> dict[str, Any]:
            if args.kill_one and len(procs) > 2:
                loop = asyncio.get_running_loop()
                loop.call_later(args.duration / 2, lambda: procs[0].send_signal(signal.SIGKILL))
            res = await load(f"http://127.0.0.1:{proxy_port}", lots, args.lanes_per_lot, args.duration, args.seed)
            res["check"] = await check_db(db_url, res["sent"], res["acked"])
            return res

        res = asyncio.run(run())
        nginx_version = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr.strip()
        n = len(res["lat"])
        print(
            json.dumps(
                {
                    "benchmark": "horizontal",
                    "instances": args.instances,
                    "proxy": nginx_version,
                    "lots": len(lots),
                    "concurrent_lanes": len(lots) * args.lanes_per_lot,
                    "killed_one_instance": bool(args.kill_one),
                    "duration_s": round(res["elapsed"], 2),
                    "events": n,
                    "events_per_second": round(n / res["elapsed"], 1),
                    "latency_ms": {"p50": round(pct(res["lat"], 50), 2), "p99": round(pct(res["lat"], 99), 2)},
                    "errors": len(res["errors"]),
                    "error_samples": sorted(set(res["errors"]))[:5],
                    "invariants": res["check"],
                    "load_before": [round(x, 2) for x in load_before],
                    "cpus": os.cpu_count(),
                },
                indent=2,
            )
        )
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        if rd is not None:
            rd.stop()
        if pg is not None:
            pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
