"""Exit decision latency for a car with a linked account, end to end over HTTP, with the provider simulator.

    python benchmarks/exit_linked.py --exits 300            # prints one JSON object

Self-contained: starts embedded PostgreSQL and Redis in a temporary directory, migrates, starts the
payment-provider simulator and the API (one uvicorn process each, real HTTP on loopback), seeds one lot,
registers drivers with linked wallets over the driver API, then for each car posts an entry (not timed)
and times the exit event: gate rules + pricing + the synchronous charge at the simulator + commit.
The simulator's own ledger is read at the end to check that every exit was charged exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

LETTERS = "ABCDEFGHKLMNPRSTUVXYZ"
SECRET = "bench-secret"


def invoice_mode() -> str:
    """How the exit's confirmation issues the e-invoice (PARKING_PAYMENTS_* settings of the API process)."""

    def on(name: str, default: str) -> bool:
        return os.environ.get(name, default).lower() not in ("0", "false", "no")

    if not on("PARKING_PAYMENTS_ISSUE_INVOICES", "true"):
        return "off"
    return "outbox" if on("PARKING_PAYMENTS_INVOICE_AT_EXIT_VIA_OUTBOX", "false") else "inline"


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))] if xs else 0.0


def wait_http(url: str, proc: subprocess.Popen[bytes], within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"process for {url} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=0.5).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


async def seed_lot(db_url: str) -> dict[str, str]:
    """One bench lot, and an admin API token of its operator: plates are linked only through an approved claim
    (issue 13.4), so the benchmark approves its drivers' plates as the operator's staff would (not timed)."""
    from datetime import UTC, datetime

    from sqlalchemy import select

    from parking.demo.bench import create_bench_lots
    from parking.kit.db import make_engine, make_sessionmaker
    from parking.models import Lane, Lot
    from parking.staff import service as staff_service

    [lot] = await create_bench_lots(db_url, 1)
    engine = make_engine(db_url, 2)
    try:
        async with make_sessionmaker(engine)() as db:
            lane_id = lot["entry"].split(".", 1)[0]
            operator_id = (await db.execute(select(Lane.lot_id).where(Lane.id == uuid.UUID(lane_id)))).scalar_one()
            from parking.models import Lot

            operator_id = (await db.execute(select(Lot.operator_id).where(Lot.id == operator_id))).scalar_one()
            user = await staff_service.create_user(
                db, operator_id=operator_id, email=f"bench-{uuid.uuid4().hex[:8]}@staff.example.vn", name="Bench",
                role="admin", password=uuid.uuid4().hex, lot_ids=(), actor="benchmark",
            )  # fmt: skip
            me = await staff_service.principal(db, user, role="admin", via="token")
            _, token = await staff_service.create_token(
                db, me, name="benchmark", role="admin", expires_days=None, now=datetime.now(UTC)
            )
            await db.commit()
    finally:
        await engine.dispose()
    return {"entry": lot["entry"], "exit": lot["exit"], "staff": token}


async def make_drivers(
    api: httpx.AsyncClient,
    sim: httpx.AsyncClient,
    n: int,
    rng: random.Random,
    link: bool = True,
    staff_token: str | None = None,
) -> list[str]:
    plates: list[str] = []
    for _ in range(n):
        if not link:  # baseline: unknown drivers get a VietQR; no provider call in the exit
            plates.append(
                f"{rng.choice(['29', '30'])}{rng.choice(LETTERS)}-{rng.randint(100, 999)}.{rng.randint(10, 99)}"
            )
            continue
        email = f"b{uuid.uuid4().hex[:12]}@example.vn"
        await api.post("/v1/drivers/register", json={"email": email, "password": "benchmark-pass"})
        tok = (await api.post("/v1/drivers/login", json={"email": email, "password": "benchmark-pass"})).json()
        h = {"Authorization": f"Bearer {tok['access_token']}"}
        plate = f"{rng.choice(['29', '30', '51'])}{rng.choice(LETTERS)}-{rng.randint(100, 999)}.{rng.randint(10, 99)}"
        r = await api.post("/v1/drivers/me/vehicles", json={"plate": plate, "vehicle_class": "car_small"}, headers=h)
        if r.status_code == 202 and staff_token:  # an unproven plate is a claim: the operator approves it
            r = await api.post(
                f"/v1/operator/vehicle-claims/{r.json()['id']}/decision",
                json={"approve": True, "reason": "registration papers seen (benchmark)"},
                headers={"Authorization": f"Bearer {staff_token}"},
            )
        if r.status_code not in (200, 201):
            continue  # a random plate collided with an earlier one
        wallet = (await sim.post("/accounts", json={"owner": email, "balance_vnd": 10**9})).json()["token"]
        r = await api.post("/v1/drivers/me/payment-methods", json={"provider_token": wallet}, headers=h)
        r.raise_for_status()
        plates.append(plate)
    return plates


async def lane(
    api: httpx.AsyncClient,
    tokens: dict[str, str],
    plates: list[str],
    lat: list[float],
    errors: list[str],
    actions: dict[str, int],
) -> None:
    entry_h = {"Authorization": f"Bearer {tokens['entry']}"}
    exit_h = {"Authorization": f"Bearer {tokens['exit']}"}
    for plate in plates:
        now = datetime.now(UTC)
        await api.post(
            "/v1/gate/events",
            headers=entry_h,
            json={
                "event_id": str(uuid.uuid4()),
                "kind": "entry",
                "plate": plate,
                "confidence": 0.97,
                "captured_at": (now - timedelta(hours=2, minutes=random.randint(0, 59))).isoformat(),
            },
        )
        body = {
            "event_id": str(uuid.uuid4()),
            "kind": "exit",
            "plate": plate,
            # A read certain enough to charge a linked account without asking (plate_guard's threshold).
            "confidence": 0.999,
            "captured_at": now.isoformat(),
        }
        t0 = time.perf_counter()
        r = await api.post("/v1/gate/events", headers=exit_h, json=body)
        lat.append((time.perf_counter() - t0) * 1000)
        if r.status_code != 200:
            errors.append(f"{r.status_code} {r.text[:100]}")
            continue
        d = r.json()
        paid = "linked_account" in d["flags"] and "charge_pending" not in d["flags"]
        key = f"{d['action']}/{'paid' if paid else 'other'}"
        actions[key] = actions.get(key, 0) + 1


async def measure(args: argparse.Namespace, api_url: str, sim_url: str, tokens: dict[str, str]) -> dict[str, Any]:
    rng = random.Random(args.seed)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with (
        httpx.AsyncClient(base_url=api_url, timeout=30, limits=limits) as client,
        httpx.AsyncClient(base_url=sim_url, timeout=30) as simc,
    ):
        total = args.exits + args.warmup
        plates = list(
            dict.fromkeys(
                await make_drivers(client, simc, total, rng, link=not args.unlinked, staff_token=tokens.get("staff"))
            )
        )
        warm, plates = plates[: args.warmup], plates[args.warmup :]
        await lane(client, tokens, warm, [], [], {})  # connections, caches, first-request costs
        before = (await simc.get("/_ledger")).json()["totals"]["charge_count"]
        lat: list[float] = []
        errors: list[str] = []
        actions: dict[str, int] = {}
        chunks = [plates[i :: args.lanes] for i in range(args.lanes)]
        t0 = time.perf_counter()
        await asyncio.gather(*(lane(client, tokens, c, lat, errors, actions) for c in chunks))
        elapsed = time.perf_counter() - t0
        after = (await simc.get("/_ledger")).json()["totals"]["charge_count"]
        health = (await client.get("/health")).json()
    return {
        "lat": lat,
        "errors": errors,
        "actions": actions,
        "elapsed": elapsed,
        "before": before,
        "after": after,
        "health": health,
    }


def run(args: argparse.Namespace, db_url: str, redis_url: str) -> dict[str, Any]:
    tokens = asyncio.run(seed_lot(db_url))
    sim_url, api_url = f"http://127.0.0.1:{args.sim_port}", f"http://127.0.0.1:{args.api_port}"
    env = dict(
        os.environ,
        PARKING_DATABASE_URL=db_url,
        PARKING_REDIS_URL=redis_url,
        PARKING_PAYMENTS_PROVIDER_BASE_URL=sim_url,
        PARKING_PAYMENTS_PROVIDER_SECRET=SECRET,
        PARKING_PAYMENTS_SEPAY_AUTH="hmac",  # the simulator's webhook method
        PARKING_PAYMENTS_SEPAY_API_KEY=SECRET,
        PARKING_PAYMENTS_SEPAY_HMAC_SECRET=SECRET,
        PARKING_PAYMENTS_VNPAY_HASH_SECRET=SECRET,
        PARKING_LOG_LEVEL="WARNING",
        PARKING_MODE="test",  # a throw-away installation: the fixed development secrets, no refusal to start
        PARKING_PORT=str(args.api_port),
        PARKING_PUBLIC_BASE_URL=api_url,
    )
    logs = Path(args.workdir) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    sim_cmd = [
        sys.executable,
        "-m",
        "simulators.payment_provider",
        "--port",
        str(args.sim_port),
        "--secret",
        SECRET,
        "--webhook-url",
        api_url,
    ]
    api_cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "parking.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(args.api_port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    with open(logs / "sim.log", "wb") as sim_log, open(logs / "api.log", "wb") as api_log:
        sim = subprocess.Popen(sim_cmd, cwd=REPO, env=env, stdout=sim_log, stderr=subprocess.STDOUT)
        api = subprocess.Popen(api_cmd, cwd=REPO, env=env, stdout=api_log, stderr=subprocess.STDOUT)
        try:
            wait_http(sim_url + "/healthz", sim)
            wait_http(api_url + "/health", api)
            m = asyncio.run(measure(args, api_url, sim_url, tokens))
        finally:
            for p in (api, sim):
                p.terminate()
            for p in (api, sim):
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
    lat, errors = m["lat"], m["errors"]
    charged = m["after"] - m["before"]
    return {
        "benchmark": "exit_linked",
        "what": "POST /v1/gate/events (exit): linked wallet charged synchronously at the simulator "
        "(or, with --unlinked, a VietQR shown)",
        "exits": len(lat),
        "concurrent_lanes": args.lanes,
        "duration_s": round(m["elapsed"], 2),
        "latency_ms": {
            "p50": round(pct(lat, 50), 2),
            "p95": round(pct(lat, 95), 2),
            "p99": round(pct(lat, 99), 2),
            "mean": round(statistics.fmean(lat), 2) if lat else 0.0,
            "max": round(max(lat or [0]), 2),
        },
        "decisions": m["actions"],
        "provider_charges": charged,
        # Vacuous with no exit measured: then it is False (a benchmark that measured nothing must say so).
        "charged_once_each": (bool(lat) and charged == len(lat) - len(errors)) if not args.unlinked else None,
        "linked": not args.unlinked,
        "invoices": invoice_mode(),
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:5],
        "server": {"api_workers": 1, "database": m["health"].get("database", {}).get("version")},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--exits", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--lanes", type=int, default=1, help="exit lanes posting concurrently")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--unlinked", action="store_true", help="baseline: cars without a linked account (VietQR)")
    ap.add_argument("--api-port", type=int, default=0)
    ap.add_argument("--sim-port", type=int, default=0)
    args = ap.parse_args()
    from parking.kit.embedded import EmbeddedPostgres, EmbeddedRedis, ensure_database, free_port

    args.api_port = args.api_port or free_port()
    args.sim_port = args.sim_port or free_port()
    base = Path(tempfile.mkdtemp(prefix="parking-bench-pay-"))
    base.chmod(0o755)  # the embedded server runs as its own user
    args.workdir = str(base)
    pg = EmbeddedPostgres(base / "pg")
    pg.start()
    rd = EmbeddedRedis(base / "redis")
    try:
        db_url = ensure_database(pg, "bench")
        redis_url = rd.start()
        from parking.cli import run_migrations

        run_migrations(db_url)  # alembic's env runs its own event loop: outside ours
        result = run(args, db_url, redis_url)
    finally:
        rd.stop()
        pg.stop()
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
