"""Nightly reconciliation at scale: N paid sessions against an N-line bank statement (issue #10, aim ≤ 10 s).

    PYTHONPATH=. .venv/bin/python benchmarks/reconcile.py [--sessions 1000000] [--fault-rate 0.01]

Setup (not timed): embedded PostgreSQL migrated to head (or PARKING_DATABASE_URL), then, by COPY, N closed
sessions over 10 lots with their exit gate events, VietQR intents, confirmed payments (bank transfer, and
2 % linked-account charges settled through the intermediary) and their e-invoices; ~fault-rate of them carry
a fault of every kind (lost notification, missing credit, duplicate, under/over-payment, ×100, fee at
source, after midnight, settled next day, refund/reversal, truncated and spaced references, static-QR
credits, a late transfer, exits without a session). The simulator's generator writes the day's statement
CSV (Vietcombank layout), the next morning's statement and the settlement report to disk.

Timed, "from files on disk to committed results": import the statement (streamed, COPY into staging,
merge on natural keys), the next-day statement and the settlement report; the run (match, classify,
heal, summarise); commit. Prints one JSON object: seconds per phase, rows/s, peak memory of this process
of the process that does the timed part (the file is streamed; PostgreSQL's own memory is not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import itertools
import json
import multiprocessing
import os
import random
import resource
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from parking.kit.db import make_engine, make_sessionmaker, transaction
from parking.models import InvoiceSeries, Lane, Lot, Operator
from parking.payments.vietqr import CROCKFORD
from parking.settings import REPO_ROOT
from reconciliation.importer import import_file
from reconciliation.rules import VN_TZ
from reconciliation.service import run_day
from reconciliation.settings import ReconSettings
from simulators.payment_provider import statements as S

BANK_FAULTS = (
    "missing_credit",
    "duplicate_credit",
    "underpaid",
    "overpaid",
    "x100",
    "fee_at_source",
    "after_midnight",
    "refund_reversal",
    "truncated_reference",
    "spaced_reference",
    "lost_notification",
)
CHARGE_FAULTS = ("missing_credit", "x100", "settled_next_day", "refund_reversal")


def new_refs(n: int, rng: random.Random) -> list[str]:
    """Unique random references, as parking.payments.vietqr.new_reference draws them (40 random bits):
    sequential ones would share their 6-character prefixes and make every truncated reference ambiguous."""
    out: set[str] = set()
    while len(out) < n:
        out.add("PK" + "".join(rng.choice(CROCKFORD) for _ in range(8)))
    return sorted(out, key=lambda _: rng.random())


def copy_text(rows: list[tuple[Any, ...]]) -> io.BytesIO:
    def cell(v: Any) -> str:
        if v is None:
            return "\\N"
        if isinstance(v, list):
            return "{" + ",".join(v) + "}"
        return str(v)

    return io.BytesIO("".join("\t".join(cell(v) for v in r) + "\n" for r in rows).encode())


async def setup(db_url: str, n: int, rate: float, day: date, rng: random.Random, tmp: Path) -> dict[str, Any]:
    engine = make_engine(db_url, 4, command_timeout_s=None)  # a million-row COPY on a loaded machine
    sm = make_sessionmaker(engine)
    t0 = time.perf_counter()
    lots: list[tuple[uuid.UUID, uuid.UUID]] = []
    async with transaction(sm) as db:
        op = Operator(id=uuid.uuid4(), code=f"BENCH-{uuid.uuid4().hex[:6]}", name="Bench", address="Hà Nội",
                      tax_code="0100000000", invoice_series_code="BNCH1", invoice_symbol_letters="BB")  # fmt: skip
        db.add(op)
        await db.flush()
        series = InvoiceSeries(id=uuid.uuid4(), operator_id=op.id, year=day.year, template=1, symbol="C26MBB",
                               series_code="BNCH1", next_seq=n + 10)  # fmt: skip
        db.add(series)
        for k in range(10):
            lot = Lot(id=uuid.uuid4(), operator_id=op.id, code=f"BL{k}-{op.code}", name=f"Bench lot {k}",
                      address="Hà Nội", latitude=Decimal("21.03"), longitude=Decimal("105.85"),
                      tariff_id="hanoi-44-2017", tariff_zone="urban")  # fmt: skip
            db.add(lot)
            await db.flush()
            lane = Lane(id=uuid.uuid4(), lot_id=lot.id, code="X1", direction="exit", vehicle_class="car_small",
                        credential_hash="-")  # fmt: skip
            db.add(lane)
            await db.flush()
            lots.append((lot.id, lane.id))
        await db.flush()
        raw = await (await db.connection()).get_raw_connection()
        conn: Any = raw.driver_connection
        start = datetime.combine(day, datetime.min.time(), VN_TZ)
        sessions: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []
        intents: list[tuple[Any, ...]] = []
        pays: list[tuple[Any, ...]] = []
        invs: list[tuple[Any, ...]] = []
        txns: list[S.DayTxn] = []
        faults = S.DayFaults()
        n_faulty = int(n * rate)
        faulty = set(rng.sample(range(n), n_faulty))
        counts: dict[str, int] = {}
        refs = new_refs(n, rng)
        for i in range(n):
            lot_id, lane_id = lots[i % 10]
            at = start + timedelta(seconds=30 + (86_000 * i) // n)
            sid, pid = uuid.uuid4(), uuid.uuid4()
            amount = rng.choice((3_000, 5_000, 25_000, 30_000, 40_000, 60_000))
            charge = i % 50 == 0
            fault = None
            if i in faulty:
                fault = rng.choice(CHARGE_FAULTS if charge else BANK_FAULTS)
                if fault == "after_midnight":
                    at = start + timedelta(hours=23, minutes=rng.randrange(45, 59))
                counts[fault] = counts.get(fault, 0) + 1
            lost = fault == "lost_notification"
            sessions.append((sid, lot_id, "car_small", f"30A{i:08d}", "closed", at - timedelta(hours=1), at, amount,
                             "debt" if lost else "paid"))  # fmt: skip
            events.append((uuid.uuid4(), lane_id, lot_id, "exit", 0.9, "car_small", at, "0" * 64, sid, False))
            txn = f"B{i:09d}"
            if charge:
                pays.append((pid, sid, None, "session", amount, "confirmed", "linked", "sim", txn, at))
            else:
                iid = uuid.uuid4()
                intents.append((iid, sid, "session", refs[i], amount, "-", "expired" if lost else "paid",
                                at + timedelta(minutes=15), at))  # fmt: skip
                if not lost:
                    pays.append((pid, sid, iid, "session", amount, "confirmed", "vietqr", "sepay", txn, at))
            if not lost:
                net = amount * 10_000 // 10_800
                invs.append((uuid.uuid4(), "original", series.id, i + 1, f"M1-{day.year % 100:02d}-BNCH1-{i + 1:011d}",
                             op.id, pid, sid, at, amount, net, amount - net, 800, "-", f"V{uuid.uuid4().hex}",
                             "accepted"))  # fmt: skip
            txns.append(S.DayTxn(txn, "charge" if charge else "bank", None if charge else refs[i], amount, at))
            if fault and not lost:
                faults.per_txn[txn] = fault
        n_static = max(n_faulty // 10, 1)
        for k in range(n_static):  # spread over the day
            faults.static_qr.append(
                (rng.choice((4_000, 7_000, 12_000)), start + timedelta(seconds=86_000 * k // n_static + 11))
            )
        faults.transfer_late = True
        for k in range(max(n_faulty // 100, 1)):  # the attendant took cash: exits without a session
            lot_id, lane_id = lots[k % 10]
            noon = start + timedelta(hours=12)
            events.append((uuid.uuid4(), lane_id, lot_id, "exit", 0.9, "car_small", noon, "0" * 64, None, False))
        copies: list[tuple[str, list[str], list[tuple[Any, ...]]]] = [
            ("parking_sessions", ["id", "lot_id", "vehicle_class", "plate", "status", "entry_at", "exit_at", "fee_vnd",
                                  "payment_status"], sessions),
            ("gate_events", ["id", "lane_id", "lot_id", "kind", "confidence", "vehicle_class", "captured_at",
                             "request_hash", "session_id", "has_image"], events),
            ("payment_intents", ["id", "session_id", "purpose", "reference", "amount_vnd", "qr_payload", "status",
                                 "expires_at", "created_at"], intents),
            ("payments", ["id", "session_id", "intent_id", "purpose", "amount_vnd", "status", "method", "provider",
                          "provider_txn_id", "confirmed_at"], pays),
            ("invoices", ["id", "kind", "series_id", "seq", "mccqt", "operator_id", "payment_id", "session_id",
                          "issued_at", "total_vnd", "net_vnd", "vat_vnd", "vat_rate_bp", "xml", "mtdiep", "status"],
             invs),
        ]  # fmt: skip
        for table, cols, rows in copies:
            await conn.copy_to_table(table, source=copy_text(rows), columns=cols, format="text")
    setup_db_s = time.perf_counter() - t0
    for t in ("parking_sessions", "gate_events", "payment_intents", "payments", "invoices"):
        async with engine.connect() as c:
            await c.exec_driver_sql(f"ANALYZE {t}")
            await c.commit()
    # the files the bank and the intermediary deliver
    t1 = time.perf_counter()
    stmt = tmp / f"statement-{day}.csv"
    lines = S.write_statement(S.statement_rows(day, txns, faults, seed=7), stmt, layout="vietcombank", day=day)
    nxt_day = day + timedelta(days=1)
    nxt = tmp / f"statement-{nxt_day}.csv"
    batch = S.batch_id("sim", day)
    transfer = S.transfer_row(batch, 1, S.transfer_time(day, faults))
    S.write_statement(S.statement_rows(nxt_day, [], S.DayFaults(), extra=[*S.late_rows(day, txns, faults), transfer]),
                      nxt, layout="vietcombank", day=nxt_day)  # fmt: skip
    sett = tmp / f"settlement-{day}.csv"
    S.write_settlement(S.settlement_rows(day, txns, faults, provider="sim"), sett, provider="sim", day=day)
    await engine.dispose()
    return {
        "setup_db_s": round(setup_db_s, 1),
        "setup_files_s": round(time.perf_counter() - t1, 1),
        "statement": stmt,
        "next_statement": nxt,
        "settlement": sett,
        "statement_lines": lines,
        "statement_mb": round(stmt.stat().st_size / 2**20, 1),
        "injected": counts
        | {
            "static_qr": len(faults.static_qr),
            "transfer_late": 1,
            "exits_without_session": max(n_faulty // 100, 1),
        },
    }


async def timed(db_url: str, day: date, files: dict[str, Any], trace: bool = False) -> dict[str, Any]:
    engine = make_engine(db_url, 2, command_timeout_s=None)
    sm = make_sessionmaker(engine)
    slow: list[tuple[float, str]] = []
    if trace:  # --trace: the statements of the run that took longest (where the next second is)
        from sqlalchemy import event

        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def _start(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            conn.info["t0"] = time.perf_counter()

        @event.listens_for(engine.sync_engine, "after_cursor_execute")
        def _end(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            slow.append((time.perf_counter() - conn.info.pop("t0", time.perf_counter()), " ".join(statement.split())))

    phases: dict[str, float] = {}
    config = REPO_ROOT / "config"
    t_all = time.perf_counter()
    async with transaction(sm) as db:
        t = time.perf_counter()
        imp = await import_file(db, provider="vcb", kind="bank-statement", path=files["statement"], config_dir=config,
                                preset="vietcombank")  # fmt: skip
        phases["import_statement"] = time.perf_counter() - t
        t = time.perf_counter()
        await import_file(db, provider="vcb", kind="bank-statement", path=files["next_statement"], config_dir=config,
                          preset="vietcombank")  # fmt: skip
        await import_file(db, provider="sim", kind="settlement", path=files["settlement"], config_dir=config)
        phases["import_others"] = time.perf_counter() - t
        t = time.perf_counter()
    phases["commit_imports"] = time.perf_counter() - t
    marks: dict[str, float] = {}

    def step(name: str) -> None:
        marks[name] = time.perf_counter()

    async with transaction(sm) as db:
        t = time.perf_counter()
        summary = await run_day(db, day, trigger="bench", settings=ReconSettings(), progress=step)
        end = time.perf_counter()
        order = ["clear", "match_statement", "match_settlement", "classify", "heal", "summarise"]
        for a, b in itertools.pairwise(order):
            phases[f"run_{a}"] = marks[b] - marks[a]
        phases["run_summarise"] = end - marks["summarise"]
        t = time.perf_counter()
    phases["commit_run"] = time.perf_counter() - t
    total = time.perf_counter() - t_all
    await engine.dispose()
    assert summary is not None
    out: dict[str, Any] = {
        "phases": {k: round(v, 2) for k, v in phases.items()},
        "total_s": round(total, 2),
        "summary": summary,
        "import": imp,
    }
    if trace:
        agg: dict[str, list[float]] = {}
        for t, q in slow:  # the same statement run per row adds up: group by its text
            acc = agg.setdefault(q[:120], [0.0, 0])
            acc[0] += t
            acc[1] += 1
        out["slowest_statements"] = [
            (round(t, 2), int(n), q) for q, (t, n) in sorted(agg.items(), key=lambda kv: -kv[1][0])[:15]
        ]
    return out


def _vm_hwm_mb() -> int:
    """This process's peak resident memory. Not ru_maxrss: Linux carries that over fork+exec from the
    parent, which held the whole setup in memory."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _timed_child(db_url: str, day_iso: str, paths: dict[str, str], q: Any, trace: bool) -> None:
    from parking.kit.logging import configure_logging

    configure_logging("ERROR")
    out = asyncio.run(timed(db_url, date.fromisoformat(day_iso), {k: Path(v) for k, v in paths.items()}, trace))
    out["peak_rss_mb"] = _vm_hwm_mb()
    q.put(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sessions", type=int, default=1_000_000)
    p.add_argument("--fault-rate", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=10)
    p.add_argument("--trace", action="store_true", help="also list the slowest SQL statements of the timed part")
    a = p.parse_args()
    from parking.kit.logging import configure_logging

    configure_logging("ERROR")  # the healing books hundreds of orphan credits: keep their warnings out
    rng = random.Random(a.seed)
    day = date(2026, 11, 25)
    tmp = Path(tempfile.mkdtemp(prefix="bench-recon-"))
    pg = None
    base: Path | None = None
    db_url = os.environ.get("PARKING_DATABASE_URL")
    if not db_url:
        from parking.kit.embedded import EmbeddedPostgres, ensure_database

        base = Path(tempfile.mkdtemp(prefix="bench-recon-pg-"))
        base.chmod(0o755)
        pg = EmbeddedPostgres(base / "data")
        pg.start()
        db_url = ensure_database(pg, "bench")
    try:
        from parking.cli import run_migrations

        run_migrations(db_url)
        files = asyncio.run(setup(db_url, a.sessions, a.fault_rate, day, rng, tmp))
        # The timed phase runs in a fresh process, so its peak memory is its own (the setup held every row).
        ctx = multiprocessing.get_context("spawn")
        q = ctx.Queue()
        paths = {k: str(files[k]) for k in ("statement", "next_statement", "settlement")}
        child = ctx.Process(target=_timed_child, args=(db_url, day.isoformat(), paths, q, a.trace))
        child.start()
        out = q.get()
        child.join()
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)  # the files are large; the embedded cluster too
        if base is not None:
            shutil.rmtree(base, ignore_errors=True)
    rows = files["statement_lines"]
    result = {
        "sessions": a.sessions,
        "statement_lines": rows,
        "statement_mb": files["statement_mb"],
        "injected": files["injected"],
        "setup_s": {"db": files["setup_db_s"], "files": files["setup_files_s"]},
        "phases_s": out["phases"],
        "total_s": out["total_s"],
        "rows_per_s": round(rows / out["total_s"]),
        "import_rows_per_s": round(rows / out["phases"]["import_statement"]),
        "peak_rss_mb_timed_process": out["peak_rss_mb"],
        "summary": out["summary"],
        **({"slowest_statements": out["slowest_statements"]} if a.trace else {}),
        "cpu": os.cpu_count(),
        "python": sys.version.split()[0],
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
