"""The chaos harness: the real platform behind TCP fault proxies, broken on purpose from a seed.

What runs (all real processes on loopback):
- the API (uvicorn, ``parking.app:create_app``) reaching PostgreSQL and Redis through fault proxies;
- the payment simulator (the bank); the harness plays the drivers: it reads the QR from the exit kiosk and
  pays it at the bank, then delivers the bank's notifications itself - duplicated, reordered, and cross-posted
  through both channels (bank-transfer webhook and gateway IPN) as the seed says;
- two real gate agents (entry and exit lane, folder cameras with a label sidecar) reaching the API through a
  third fault proxy.

Faults, drawn from the seed while vehicles flow: kill -9 of the API (restarted after a pause), kill -9 of a gate
agent (restarted), PostgreSQL or Redis out of reach for seconds (their proxy refuses and resets every
connection: to the API this is the server stopping), the lane link blackholed or slowed, answers dropped after
the server acted. Then the faults stop, the queues drain, and the invariants are read from the agents' queues,
PostgreSQL, Redis and the simulator (``Figures``), printed as one JSON object.

Used by tests/chaos/test_chaos.py (a short seeded run inside ``make test``) and by ``python -m
tests.chaos.soak`` (``make chaos``: many seeds, minutes).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.kit.db import make_engine, make_sessionmaker
from parking.kit.embedded import free_port
from parking.settings import REPO_ROOT
from tests.chaos.faultproxy import FaultProxy, proxied_url
from tests.factories import LotHandle, make_lot
from tests.factories.gate_agent import make_plate_folder, write_config

SIM_SECRET = "dev-provider-secret"  # test mode: the fixed development secrets the simulator shares
FAULTS = ("api_kill9", "agent_kill9", "pg_down", "redis_down", "blackhole", "delay", "drop_answer")


@dataclass
class Figures:
    seed: int
    vehicles: int
    faults: list[str] = field(default_factory=list)
    events_sent: int = 0  # minted by the lanes (one per vehicle pass)
    events_acknowledged: int = 0
    events_stored: int = 0  # gate_events rows on the server
    events_duplicated: int = 0  # one vehicle pass stored more than once
    events_lost: int = 0  # minted by a lane, never stored
    events_stuck_unacknowledged: int = 0
    outcomes_stuck: int = 0  # offline outcomes not delivered
    dead_letters: int = 0  # refused for good by the server
    sessions_open_twice: int = 0
    occupancy_pg_mismatch: int = 0  # |lot_capacities.occupied - open sessions|
    occupancy_redis_mismatch: int = 0  # |Redis mirror - open sessions|
    # Every vehicle has left by the end of a run: an open session is a stay whose exit was not paired with it
    # (e.g. the entry reached the server only after the exit, while the entry lane was cut off).
    sessions_left_open: int = 0
    exits_without_entry: int = 0
    paid_sessions: int = 0
    sessions_paid_more_than_once: int = 0
    money_booked_vnd: int = 0  # confirmed payments on the server
    money_moved_vnd: int = 0  # what the bank says the payers sent
    money_difference_vnd: int = 0
    sessions_invoiced_not_once: int = 0  # paid sessions without exactly one sale invoice
    invoice_total_not_fee: int = 0
    ledger_unbalanced_entries: int = 0
    lanes_wrongly_offline: int = 0
    notifications_posted: int = 0
    restarts_by_supervisor: int = 0  # processes that died on their own and were restarted
    closed_by_payment_status: dict[str, int] = field(default_factory=dict)  # what became of the stays
    duration_s: float = 0.0

    def zero_violations(self) -> dict[str, int]:
        keys = (
            "events_duplicated",
            "events_lost",
            "events_stuck_unacknowledged",
            "outcomes_stuck",
            "dead_letters",
            "sessions_open_twice",
            "occupancy_pg_mismatch",
            "occupancy_redis_mismatch",
            "sessions_left_open",
            "exits_without_entry",
            "sessions_paid_more_than_once",
            "money_difference_vnd",
            "sessions_invoiced_not_once",
            "invoice_total_not_fee",
            "ledger_unbalanced_entries",
            "lanes_wrongly_offline",
        )
        return {k: int(getattr(self, k)) for k in keys if getattr(self, k)}


def _plates(rng: random.Random, n: int) -> list[str]:
    seen: set[str] = set()
    while len(seen) < n:
        seen.add(
            f"{rng.choice(['29', '30', '51'])}{rng.choice('ACDEFGH')}-{rng.randint(100, 999)}.{rng.randint(10, 99)}"
        )
    return sorted(seen)


class Proc:
    """A restartable child process (kill -9 and start again with the same command)."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.cmd, self.env, self.log = name, cmd, env, log
        self.p: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        fh = self.log.open("ab")
        self.p = subprocess.Popen(self.cmd, env=self.env, cwd=REPO_ROOT, stdout=fh, stderr=fh, start_new_session=True)

    def kill9(self) -> None:
        if self.p is not None and self.p.poll() is None:
            os.kill(self.p.pid, signal.SIGKILL)
            self.p.wait()

    def stop(self) -> None:
        if self.p is not None and self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(15)
            except subprocess.TimeoutExpired:
                self.kill9()


class ChaosRun:
    def __init__(
        self, seed: int, vehicles: int, workdir: Path, db_url: str, redis_url: str, *, fault_every_s: float = 1.5
    ) -> None:
        self.seed = seed
        self.rng = random.Random(seed)  # plates, orders, faults (the fault thread)
        self.pay_rng = random.Random(seed * 7919 + 1)  # the payer thread's own draws: faults stay reproducible
        self.vehicles = vehicles
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.db_url = db_url
        self.redis_url = redis_url
        self.fault_every_s = fault_every_s
        self.figures = Figures(seed=seed, vehicles=vehicles)
        self.procs: dict[str, Proc] = {}
        self.proxies: list[FaultProxy] = []
        self.stop_faults = threading.Event()
        self.paid_refs: set[str] = set()
        self.held: set[str] = set()  # processes a fault keeps down on purpose (the supervisor leaves them)
        self.supervised: set[str] = set()
        self.lock = threading.Lock()

    # -- set-up -------------------------------------------------------------------------------------

    async def _lot(self) -> LotHandle:
        engine = make_engine(self.db_url, 2)
        try:
            return await make_lot(make_sessionmaker(engine), capacities={"car_small": self.vehicles + 5})
        finally:
            await engine.dispose()

    def _start(self) -> None:
        self.lot = asyncio.run(self._lot())
        self.pg_proxy, pg_url = proxied_url(self.db_url)
        self.redis_proxy, redis_url = proxied_url(self.redis_url)
        self.api_port, self.sim_port = free_port(), free_port()
        self.api_proxy = FaultProxy("127.0.0.1", self.api_port).start()
        self.proxies += [self.pg_proxy, self.redis_proxy, self.api_proxy]
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("PARKING_")}
        base_env.update(
            {
                "PYTHONPATH": str(REPO_ROOT),
                "PARKING_MODE": "test",
                "PARKING_INVOICE_CERT_DIR": os.environ.get("PARKING_INVOICE_CERT_DIR", str(self.dir / "certs")),
            }
        )
        api_env = {
            **base_env,
            "PARKING_DATABASE_URL": pg_url,
            "PARKING_REDIS_URL": redis_url,
            "PARKING_PORT": str(self.api_port),
            "PARKING_PUBLIC_BASE_URL": f"http://127.0.0.1:{self.api_port}",
            "PARKING_PAYMENTS_PROVIDER_BASE_URL": f"http://127.0.0.1:{self.sim_port}",
            # The simulated bank signs its webhooks with SePay's HMAC method and VNPAY's hash, with its secret.
            "PARKING_PAYMENTS_PROVIDER_SECRET": SIM_SECRET,
            "PARKING_PAYMENTS_SEPAY_AUTH": "hmac",
            "PARKING_PAYMENTS_SEPAY_HMAC_SECRET": SIM_SECRET,
            "PARKING_PAYMENTS_VNPAY_HASH_SECRET": SIM_SECRET,
            "PARKING_OCCUPANCY_REPAIR_INTERVAL_S": "2",
            "PARKING_DB_CONNECT_TIMEOUT_S": "2",
            "PARKING_DB_COMMAND_TIMEOUT_S": "5",
            "PARKING_REDIS_TIMEOUT_S": "2",
            "PARKING_LOG_LEVEL": "WARNING",
        }
        py = sys.executable
        self.procs["sim"] = Proc(
            "sim",
            [py, "-m", "simulators.payment_provider", "--port", str(self.sim_port), "--secret", SIM_SECRET],
            base_env,
            self.dir / "sim.log",
        )
        self.procs["api"] = Proc(
            "api",
            [py, "-m", "uvicorn", "parking.app:create_app", "--factory", "--host", "127.0.0.1",
             "--port", str(self.api_port), "--log-level", "warning", "--no-access-log"],
            api_env,
            self.dir / "api.log",
        )  # fmt: skip
        self.procs["sim"].start()
        self.procs["api"].start()
        self._wait_http(f"http://127.0.0.1:{self.sim_port}/healthz")
        self._wait_http(f"http://127.0.0.1:{self.api_port}/health")
        plates = _plates(self.rng, self.vehicles)
        self.plates = plates
        exit_order = plates[:]
        self.rng.shuffle(exit_order)
        self.qpaths: dict[str, str] = {}
        self.kiosks: dict[str, int] = {}
        for kind, lane, order in (("entry", self.lot.entry, plates), ("exit", self.lot.exit, exit_order)):
            folder = make_plate_folder(self.dir / f"frames-{kind}", order, seed=self.seed)
            self.qpaths[kind] = str(self.dir / f"queue-{kind}.sqlite")
            self.kiosks[kind] = free_port()
            cfg = {
                "lane": {
                    "server_url": f"http://127.0.0.1:{self.api_proxy.port}",
                    "token": lane.token,
                    "lane_code": lane.code,
                    "direction": kind,
                    "vehicle_class": "car_small",
                    "decision_timeout_s": 2.0,
                    "pay_timeout_s": 6.0,
                    "session_poll_s": 0.5,
                    "cache_refresh_s": 2.0,
                },
                "camera": {"source": f"folder:{folder}", "fps": 2.0, "loop": False},
                "reader": {"engine": "sidecar", "min_confidence": 0.6, "dedup_window_s": 0.0},
                "barrier": {
                    "driver": "simulated",
                    "open_ms": 50,
                    "state_file": str(self.dir / f"barrier-{kind}.jsonl"),
                },
                "display": {"enabled": True, "host": "127.0.0.1", "port": self.kiosks[kind]},
                "queue": {"path": self.qpaths[kind], "max_backoff_s": 2.0},
                "heartbeat": {"interval_s": 1.0},
            }
            path = write_config(self.dir / f"agent-{kind}.toml", cfg)
            self.procs[f"agent-{kind}"] = Proc(
                f"agent-{kind}", [py, "-m", "gate_agent", "run", "--config", str(path)], base_env,
                self.dir / f"agent-{kind}.log",
            )  # fmt: skip

    def _wait_http(self, url: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{url} did not come up; see {self.dir}")

    # -- faults --------------------------------------------------------------------------------------

    def _fault_loop(self) -> None:
        while not self.stop_faults.wait(self.fault_every_s * (0.5 + self.rng.random())):
            kind = self.rng.choice(FAULTS)
            dur = round(0.5 + 2.5 * self.rng.random(), 2)
            self.figures.faults.append(f"{kind}:{dur}")
            if kind == "api_kill9":
                self.held.add("api")
                self.procs["api"].kill9()
                self.stop_faults.wait(dur)
                self.procs["api"].start()
                self.held.discard("api")
            elif kind == "agent_kill9":
                name = self.rng.choice(["agent-entry", "agent-exit"])
                if name in self.supervised:
                    self.held.add(name)
                    self.procs[name].kill9()
                    self.stop_faults.wait(min(dur, 1.0))
                    self.procs[name].start()
                    self.held.discard(name)
            else:
                proxy = {"pg_down": self.pg_proxy, "redis_down": self.redis_proxy}.get(kind, self.api_proxy)
                mode = {"pg_down": "refuse", "redis_down": "refuse", "delay": "pass"}.get(kind, kind)
                proxy.set_mode(mode, delay_s=0.3 if kind == "delay" else 0.0)
                self.stop_faults.wait(dur)
                proxy.set_mode("pass")

    def _supervisor_loop(self) -> None:
        """What a service manager does: a process that died on its own (not killed by a fault) is restarted."""
        while not self.stop_supervisor.wait(1.0):
            for name in list(self.supervised):
                child = self.procs[name].p
                if name not in self.held and child is not None and child.poll() is not None:
                    self.figures.restarts_by_supervisor += 1
                    self.procs[name].start()

    # -- the drivers at the exit: pay the QR shown on the kiosk --------------------------------------

    def _payer_loop(self) -> None:
        kiosk = f"http://127.0.0.1:{self.kiosks['exit']}/state.json"
        bank = f"http://127.0.0.1:{self.sim_port}"
        api = f"http://127.0.0.1:{self.api_port}"
        with httpx.Client(timeout=5) as c:
            while not self.stop_payer.is_set():
                self.stop_payer.wait(0.3)
                try:
                    st = c.get(kiosk).json()
                except (httpx.HTTPError, ValueError):
                    continue
                qr = st.get("qr_payload") if st.get("kind") == "pay" else None
                if not qr or qr in self.paid_refs:
                    continue
                self.paid_refs.add(qr)
                try:
                    channel = self.pay_rng.choice(["sepay", "vnpay", "both"])
                    r = c.post(f"{bank}/vietqr/pay", json={"qr_payload": qr, "channel": channel, "deliver": False})
                    notes = list(r.json().get("notifications", []))
                except (httpx.HTTPError, ValueError):
                    continue
                # The bank retries: duplicates, in any order.
                notes += [n for n in notes if self.pay_rng.random() < 0.5]
                self.pay_rng.shuffle(notes)
                for n in notes:
                    self._deliver(c, api, n)

    def _deliver(self, c: httpx.Client, api: str, n: dict[str, Any]) -> None:
        for _ in range(120):  # the bank retries until it gets an answer (the API may be down for a while)
            try:
                r = c.request(
                    n["method"],
                    api + n["path"],
                    params=n.get("query") or None,
                    content=(n.get("body") or "").encode() or None,
                    headers=n.get("headers") or {},
                )
                self.figures.notifications_posted += 1
                if r.status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)

    # -- the run -------------------------------------------------------------------------------------

    def _queue(self, kind: str) -> list[tuple[str, str, str | None]]:
        try:
            db = sqlite3.connect(self.qpaths[kind], timeout=10)
        except sqlite3.Error:
            return []
        try:
            return db.execute("SELECT event_id, status, outcome_status FROM events").fetchall()
        except sqlite3.Error:
            return []
        finally:
            db.close()

    def _wait(self, pred: Any, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return True
            time.sleep(0.3)
        return bool(pred())

    def run(self, drain_timeout_s: float = 90) -> Figures:
        t0 = time.monotonic()
        self._start()
        self.stop_payer = threading.Event()
        self.stop_supervisor = threading.Event()
        faults = threading.Thread(target=self._fault_loop, daemon=True)
        payer = threading.Thread(target=self._payer_loop, daemon=True)
        supervisor = threading.Thread(target=self._supervisor_loop, daemon=True)
        try:
            self.supervised.add("api")
            supervisor.start()
            faults.start()
            payer.start()
            self.procs["agent-entry"].start()
            self.supervised.add("agent-entry")
            self._wait(lambda: len(self._queue("entry")) >= self.vehicles, 40 + self.vehicles * 3)
            # Stays outlast the outages: the cars leave once their entries reached the server (faults go on).
            # Without this wait an exit can reach the server before its own entry (entry lane cut off, exit
            # lane online): seen as exits_without_entry / sessions_left_open, see docs/reliability.md.
            self._wait(lambda: all(r[1] != "pending" for r in self._queue("entry")), 60)
            self.procs["agent-exit"].start()
            self.supervised.add("agent-exit")
            self._wait(lambda: len(self._queue("exit")) >= self.vehicles, 40 + self.vehicles * 10)
            self.stop_faults.set()
            faults.join(30)
            for proxy in self.proxies:
                proxy.set_mode("pass")

            def drained() -> bool:
                rows = self._queue("entry") + self._queue("exit")
                return all(s != "pending" and o != "pending" for _, s, o in rows)

            self._wait(drained, drain_timeout_s)
            time.sleep(4)  # the payer's last notifications, one occupancy repair, a heartbeat
            self.stop_payer.set()
            payer.join(30)
            self._measure()
        finally:
            self.stop_faults.set()
            self.stop_payer.set()
            self.stop_supervisor.set()
            supervisor.join(10)
            for proc in self.procs.values():
                proc.stop()
            for proxy in self.proxies:
                proxy.stop()
        self.figures.duration_s = round(time.monotonic() - t0, 1)
        return self.figures

    # -- invariants ----------------------------------------------------------------------------------

    def _measure(self) -> None:
        f = self.figures
        rows = self._queue("entry") + self._queue("exit")
        ids = {r[0] for r in rows}
        f.events_sent = len(rows)
        f.events_acknowledged = sum(1 for r in rows if r[1] == "acked")
        f.events_stuck_unacknowledged = sum(1 for r in rows if r[1] == "pending")
        f.outcomes_stuck = sum(1 for r in rows if r[2] == "pending")
        f.dead_letters = sum(1 for r in rows if r[1] == "rejected" or r[2] == "rejected")
        asyncio.run(self._measure_db(ids))
        bank = httpx.get(f"http://127.0.0.1:{self.sim_port}/_ledger", timeout=10).json()
        f.money_moved_vnd = int(bank["totals"]["qr_paid_vnd"]) + int(bank["totals"]["charged_vnd"])
        f.money_difference_vnd = abs(f.money_moved_vnd - f.money_booked_vnd)
        for kind in ("entry", "exit"):
            try:
                if httpx.get(f"http://127.0.0.1:{self.kiosks[kind]}/state.json", timeout=5).json().get("offline"):
                    f.lanes_wrongly_offline += 1
            except (httpx.HTTPError, ValueError):
                f.lanes_wrongly_offline += 1

    async def _measure_db(self, minted: set[str]) -> None:
        f = self.figures
        engine = make_engine(self.db_url, 2)
        sm: async_sessionmaker[AsyncSession] = make_sessionmaker(engine)
        lot = self.lot.id
        try:
            async with sm() as db:

                async def one(sql: str, **kw: Any) -> Any:
                    return (await db.execute(text(sql), {"lot": lot, **kw})).scalar()

                stored = {
                    str(r[0])
                    for r in await db.execute(text("SELECT id FROM gate_events WHERE lot_id = :lot"), {"lot": lot})
                }
                f.events_stored = len(stored)
                f.events_lost = len(minted - stored)
                f.events_duplicated = int(
                    await one(
                        "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM gate_events"
                        " WHERE lot_id = :lot AND plate IS NOT NULL GROUP BY plate, kind) x WHERE n > 1"
                    )
                )
                f.sessions_open_twice = int(
                    await one(
                        "SELECT count(*) FROM (SELECT plate FROM parking_sessions"
                        " WHERE lot_id = :lot AND status = 'open' GROUP BY plate HAVING count(*) > 1) x"
                    )
                )
                open_n = int(await one("SELECT count(*) FROM parking_sessions WHERE lot_id = :lot AND status = 'open'"))
                occ = int(await one("SELECT coalesce(sum(occupied), 0) FROM lot_capacities WHERE lot_id = :lot"))
                f.occupancy_pg_mismatch = abs(occ - open_n)
                f.sessions_left_open = open_n
                f.exits_without_entry = int(
                    await one(
                        "SELECT count(*) FROM parking_sessions WHERE lot_id = :lot AND 'unknown_entry' = ANY(flags)"
                    )
                )
                f.closed_by_payment_status = {
                    str(k): int(v)
                    for k, v in await db.execute(
                        text(
                            "SELECT payment_status, count(*) FROM parking_sessions"
                            " WHERE lot_id = :lot AND status = 'closed' GROUP BY payment_status"
                        ),
                        {"lot": lot},
                    )
                }
                f.paid_sessions = int(
                    await one(
                        "SELECT count(DISTINCT p.session_id) FROM payments p"
                        " JOIN parking_sessions s ON s.id = p.session_id"
                        " WHERE s.lot_id = :lot AND p.status = 'confirmed'"
                    )
                )
                f.sessions_paid_more_than_once = int(
                    await one(
                        "SELECT count(*) FROM (SELECT p.session_id FROM payments p JOIN parking_sessions s"
                        " ON s.id = p.session_id WHERE s.lot_id = :lot AND p.status = 'confirmed'"
                        " GROUP BY p.session_id HAVING count(*) > 1) x"
                    )
                )
                f.money_booked_vnd = int(
                    await one(
                        "SELECT coalesce(sum(p.amount_vnd), 0) FROM payments p JOIN parking_sessions s"
                        " ON s.id = p.session_id WHERE s.lot_id = :lot AND p.status = 'confirmed'"
                    )
                )
                f.sessions_invoiced_not_once = int(
                    await one(
                        "SELECT count(*) FROM (SELECT s.id, (SELECT count(*) FROM invoices i WHERE i.session_id = s.id"
                        " AND i.kind = 'original') AS n FROM parking_sessions s WHERE s.lot_id = :lot AND EXISTS"
                        " (SELECT 1 FROM payments p WHERE p.session_id = s.id AND p.status = 'confirmed')) x"
                        " WHERE n <> 1"
                    )
                )
                f.invoice_total_not_fee = int(
                    await one(
                        "SELECT count(*) FROM invoices i JOIN parking_sessions s ON s.id = i.session_id"
                        " WHERE s.lot_id = :lot AND i.kind = 'original' AND i.total_vnd <> s.fee_vnd"
                    )
                )
                f.ledger_unbalanced_entries = int(
                    await one(
                        "SELECT count(*) FROM (SELECT e.id FROM ledger_entries e JOIN ledger_postings p"
                        " ON p.entry_id = e.id GROUP BY e.id HAVING sum(p.amount_vnd) <> 0) x"
                    )
                )
            from parking.kit.redis import make_redis

            r = make_redis(self.redis_url)
            try:
                mirror = await r.hgetall(f"occ:{lot}")
            finally:
                await r.aclose()
            f.occupancy_redis_mismatch = abs(sum(int(v) for v in mirror.values()) - open_n)
        finally:
            await engine.dispose()


def report(fig: Figures) -> str:
    d = asdict(fig)
    d["faults"] = fig.faults
    d["violations"] = fig.zero_violations()
    return json.dumps(d, ensure_ascii=False)


def run_one(seed: int, vehicles: int, workdir: Path, db_url: str, redis_url: str, **kw: Any) -> Figures:
    return ChaosRun(seed, vehicles, workdir / f"seed-{seed}-{uuid.uuid4().hex[:6]}", db_url, redis_url, **kw).run()
