"""The command line other tools script against (names and JSON keys), and the finance reports in every
format and both languages; `parking invoices verify` is clean after the run."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.settings import Settings
from reconciliation import report
from reconciliation.rules import CLASS_CODES
from simulators.payment_provider import statements as S
from tests.factories import LotHandle
from tests.reconciliation.daybuilder import Day, add_sale, fresh_day


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "PARKING_DATABASE_URL": str(settings.database_url),
        "PARKING_REDIS_URL": str(settings.redis_url),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    return subprocess.run(
        [sys.executable, "-m", "parking", *args], capture_output=True, text=True, env=env, timeout=180
    )


async def test_import_run_report_from_the_command_line(
    sessionmaker: async_sessionmaker[AsyncSession], recon_lot: LotHandle, tmp_path: Path, settings: Settings
) -> None:
    d = Day(fresh_day(), recon_lot)
    for i in range(4):
        await add_sale(sessionmaker, d, d.local(9, 5 * i), 10_000 + 5_000 * i)
    lost = await add_sale(sessionmaker, d, d.local(10), 22_000, notified=False)
    dup = await add_sale(sessionmaker, d, d.local(11), 30_000)
    d.faults.per_txn[dup.txn_id] = "duplicate_credit"
    stmt = tmp_path / "sao-ke.xlsx"
    S.write_statement(S.statement_rows(d.day, d.txns(), d.faults), stmt, layout="techcombank", day=d.day)

    r = cli(settings, "reconcile", "import", "--provider", "tcb", "--kind", "bank-statement", "--file", str(stmt),
            "--preset", "techcombank")  # fmt: skip
    assert r.returncode == 0, r.stderr
    imported = json.loads(r.stdout)
    assert imported["new_lines"] == 7 and not imported["already_imported"]
    again = json.loads(cli(settings, "reconcile", "import", "--provider", "tcb", "--kind", "bank-statement",
                           "--file", str(stmt), "--preset", "techcombank").stdout)  # fmt: skip
    assert again["already_imported"] and again["new_lines"] == 0

    r = cli(settings, "reconcile", "run", "--date", d.day.isoformat(), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)  # one object on stdout; the progress bar is on stderr
    assert {"date", "payments", "matched", "discrepancies", "healed", "amounts"} <= set(out)
    assert list(out["discrepancies"]) == list(CLASS_CODES)
    assert out["discrepancies"]["status_mismatch"] == 1 and out["discrepancies"]["duplicate_credit"] == 1
    assert sum(out["discrepancies"].values()) == 2
    assert out["healed"]["mark_paid"] == 1 and out["healed"]["refund_executed"] == 1
    assert set(out["amounts"]) >= {"expected_vnd", "settled_vnd", "difference_vnd"}
    assert out["date"] == d.day.isoformat() and out["payments"] == 5 and out["matched"] == 5
    assert lost.reference is not None

    verify = cli(settings, "invoices", "verify", "--date", d.day.isoformat())
    assert verify.returncode == 0, verify.stdout

    for fmt in ("json", "csv", "xlsx", "pdf"):
        path = tmp_path / f"r-vi.{fmt}"
        r = cli(settings, "reconcile", "report", "--date", d.day.isoformat(), "--format", fmt, "--out", str(path))
        assert r.returncode == 0, r.stderr
        assert path.stat().st_size > 0
    async with sessionmaker() as db:  # the English variant, in-process
        en = await report.report_data(db, d.day)
    for fmt in ("csv", "xlsx", "pdf"):
        report.write(en, fmt, tmp_path / f"r-en.{fmt}", "en")
    data = json.loads((tmp_path / "r-vi.json").read_text(encoding="utf-8"))
    assert {"summary", "by_lot", "by_provider", "discrepancies", "healing"} <= set(data)
    assert data["by_lot"][0]["sessions"] == 6 and data["by_lot"][0]["invoices"] == 6
    wb = openpyxl.load_workbook(tmp_path / "r-vi.xlsx")
    assert wb.sheetnames == ["Tổng hợp", "Theo bãi xe", "Theo đơn vị thanh toán", "Chênh lệch", "Tự xử lý"]
    assert openpyxl.load_workbook(tmp_path / "r-en.xlsx").sheetnames[0] == "Summary"
    assert wb["Chênh lệch"].max_row == 2 + 2  # title, header, two discrepancies
    rows = list(csv.reader((tmp_path / "r-en.csv").read_text(encoding="utf-8-sig").splitlines()))
    assert ["# Discrepancies"] in rows
    assert (tmp_path / "r-vi.pdf").read_bytes().startswith(b"%PDF")


def test_bad_input_is_refused_with_the_error_shape(settings: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "x.csv"
    bad.write_text("không phải sao kê\n", encoding="utf-8")
    r = cli(settings, "reconcile", "import", "--provider", "x", "--kind", "bank-statement", "--file", str(bad))
    assert r.returncode == 1
    err = json.loads(r.stderr.strip().splitlines()[-1])["error"]
    assert err["code"] == "import_refused" and err["details"]["line"] == 0
    r = cli(settings, "reconcile", "report", "--date", "2099-01-01", "--format", "pdf", "--out", str(tmp_path / "x"))
    assert r.returncode == 1 and "not_reconciled" in r.stderr
