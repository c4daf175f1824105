"""Measure "payment confirmed -> invoice viewable through its link" (issue #6, aim: under 2 s).

    .venv/bin/python benchmarks/invoice_latency.py [--payments 40] [--burst 20]

Starts embedded PostgreSQL (migrated to head), the e-invoice provider simulator as a separate HTTP
process, and an HTTP server with the invoice router plus the outbox worker. For each payment it times:
  * ``confirm_ms``: the confirming transaction (payments.service.confirm, which issues the invoice via
    the hook) until commit: what the exit lane waits for;
  * ``view_ms``: from the start of that transaction until ``GET /r/{MCCQT}?k=...`` answers 200 over HTTP;
  * ``accepted_ms``: until the provider's acceptance is recorded (signing + outbox + HTTP round trip).
Sequential payments first, then a burst confirmed concurrently. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from parking.invoices import service as invoice_service
from parking.invoices import tasks
from parking.invoices.certs import self_signed
from parking.invoices.endpoints import router
from parking.invoices.provider import ProviderClient
from parking.kit import outbox
from parking.kit.db import make_engine, make_sessionmaker, transaction
from parking.kit.embedded import EmbeddedPostgres, ensure_database, free_port
from parking.kit.errors import install_error_handlers
from parking.models import Invoice, Lot, Operator, ParkingSession, Payment
from parking.settings import REPO_ROOT


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))], 1)


def _summary(xs: list[float]) -> dict[str, float]:
    return {"p50": _pct(xs, 50), "p95": _pct(xs, 95), "max": round(max(xs), 1), "mean": round(statistics.fmean(xs), 1)}


def _serve(app: FastAPI, port: int) -> uvicorn.Server:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return server


async def _run(db_url: str, n_seq: int, burst: int, sim_url: str, creds: Any) -> dict[str, Any]:
    base = f"http://127.0.0.1:{free_port()}"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The server thread has its own event loop, so its own engine and outbox worker.
        engine = make_engine(db_url, 10)
        sm = make_sessionmaker(engine)
        app.state.parking = SimpleNamespace(sessionmaker=sm, settings=SimpleNamespace(public_base_url=base))
        stop = asyncio.Event()
        ctx = outbox.OutboxContext(
            sm, None, {tasks.EXTRA_CREDENTIALS: lambda _op: creds, tasks.EXTRA_PROVIDER: ProviderClient(sim_url, 5.0)}
        )
        worker = asyncio.create_task(outbox.run_worker(ctx, poll_s=0.05, stop=stop))
        yield
        stop.set()
        await worker
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(router)
    server = _serve(app, int(base.rsplit(":", 1)[1]))

    from parking.payments.service import confirm

    engine = make_engine(db_url, burst + 5)
    sm = make_sessionmaker(engine)

    async def make_lot() -> uuid.UUID:
        suffix = uuid.uuid4().hex[:4].upper()
        async with transaction(sm) as db:
            op = Operator(
                id=uuid.uuid4(),
                code=f"BENCH-{suffix}",
                name="Công ty CP Trông giữ xe (bench)",
                address="1 Lý Thái Tổ, Hoàn Kiếm, Hà Nội",
                tax_code="0101234567",
                invoice_series_code="B" + suffix,
                invoice_symbol_letters="BE",
            )
            db.add(op)
            await db.flush()
            lot = Lot(
                id=uuid.uuid4(),
                operator_id=op.id,
                code=f"BENCH-{suffix}",
                name="Bãi xe bench",
                address="Hà Nội",
                latitude=Decimal("21.03"),
                longitude=Decimal("105.85"),
                tariff_id="hanoi-44-2017",
                tariff_zone="urban",
            )
            db.add(lot)
            return lot.id

    main_lot = await make_lot()

    async def pending(lot_id: uuid.UUID = main_lot) -> uuid.UUID:
        now = datetime.now(UTC)
        async with transaction(sm) as db:
            ps = ParkingSession(
                id=uuid.uuid4(),
                lot_id=lot_id,
                vehicle_class="car_small",
                plate="30A12345",
                status="closed",
                entry_at=now - timedelta(hours=2),
                exit_at=now,
                fee_vnd=25_000,
                flags=[],
            )
            db.add(ps)
            await db.flush()
            p = Payment(
                id=uuid.uuid4(),
                session_id=ps.id,
                purpose="session",
                amount_vnd=25_000,
                status="pending",
                method="vietqr",
                provider="bench",
                flags=[],
            )
            db.add(p)
            return p.id

    async def one(pid: uuid.UUID, client: httpx.AsyncClient) -> dict[str, float]:
        t0 = time.perf_counter()
        async with transaction(sm) as db:
            payment = await db.get(Payment, pid)
            assert payment is not None
            await confirm(db, payment, provider_txn_id=f"bench-{pid}")
            inv = await invoice_service.original_for_payment(db, pid)
            assert inv is not None
            link = invoice_service.lookup_url(base, inv.mccqt)  # what the exit answer carries
        t_commit = time.perf_counter()
        # Polling is the measurement itself: the driver's phone opening the link.
        while (await client.get(link)).status_code != 200:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        t_view = time.perf_counter()
        while True:
            async with sm() as db:
                status = (await db.get(Invoice, inv.id)).status  # type: ignore[union-attr]
            if status in ("accepted", "rejected"):
                break
            await asyncio.sleep(0.01)
        t_acc = time.perf_counter()
        return {
            "confirm_ms": (t_commit - t0) * 1000,
            "view_ms": (t_view - t0) * 1000,
            "accepted_ms": (t_acc - t0) * 1000,
            "accepted": float(status == "accepted"),
        }

    async with httpx.AsyncClient(timeout=10) as client:
        seq = [await one(await pending(), client) for _ in range(n_seq)]
        pids = [await pending() for _ in range(burst)]
        t_burst = time.perf_counter()
        par = await asyncio.gather(*(one(p, client) for p in pids))
        burst_wall = (time.perf_counter() - t_burst) * 1000
        # Same burst, each payment for a different operator: no shared counter row. The difference
        # from the burst above is what the gapless series costs.
        other = [await pending(await make_lot()) for _ in range(burst)]
        t_many = time.perf_counter()
        many = await asyncio.gather(*(one(p, client) for p in other))
        many_wall = (time.perf_counter() - t_many) * 1000
    await engine.dispose()
    server.should_exit = True

    def block(rs: list[dict[str, float]]) -> dict[str, Any]:
        return {
            "n": len(rs),
            "accepted": int(sum(r["accepted"] for r in rs)),
            **{k: _summary([r[k] for r in rs]) for k in ("confirm_ms", "view_ms", "accepted_ms")},
        }

    return {
        "benchmark": "invoice_payment_to_viewable",
        "unit": "ms",
        "aim_view_ms": 2000,
        "sequential": block(seq),
        "concurrent_burst_one_operator": {**block(list(par)), "wall_ms": round(burst_wall, 1)},
        "concurrent_burst_many_operators": {**block(list(many)), "wall_ms": round(many_wall, 1)},
        "cpu_count": os.cpu_count(),
        # The machine is shared: the 1-minute load average at the end says how busy it was.
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--payments", type=int, default=40)
    ap.add_argument("--burst", type=int, default=20)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "pg")
        pg.start()
        sim = None
        try:
            db_url = ensure_database(pg, "bench")
            from parking.cli import run_migrations

            run_migrations(db_url)
            creds = self_signed("Bench operator", "0101234567", days=1)
            cert = Path(tmp) / "op.crt.pem"
            cert.write_bytes(creds.cert_pem)
            port = free_port()
            sim = subprocess.Popen(
                [sys.executable, "-m", "simulators.einvoice_provider", "--port", str(port), "--cert", str(cert)],
                cwd=REPO_ROOT,
            )
            sim_url = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    if httpx.get(f"{sim_url}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.05)
            out = asyncio.run(_run(db_url, a.payments, a.burst, sim_url, creds))
            out["provider_received"] = len(httpx.get(f"{sim_url}/_received").json()["invoices"])
            print(json.dumps(out))
        finally:
            if sim is not None:
                sim.terminate()
                sim.wait(10)
            pg.stop()


if __name__ == "__main__":
    main()
