"""Importing bank statements (every preset, CSV and XLSX) and settlement reports: raw lines kept,
natural keys make re-imports no-ops, a malformed file is refused with its line and leaves nothing."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.kit.db import transaction
from parking.models import ReconFile, SettlementBatch, SettlementLine, StatementLine
from parking.settings import REPO_ROOT
from reconciliation import formats
from reconciliation.importer import ImportRefused, import_file
from simulators.payment_provider import statements as S

CONFIG = REPO_ROOT / "config"
DAY = date(2030, 11, 20)


def txns(prefix: str, n: int = 6) -> list[S.DayTxn]:
    base = datetime(2030, 11, 20, 8, 0, tzinfo=S.VN)
    out = []
    for i in range(n):
        ref = "PK" + f"{prefix}{i:02d}ABCDEF"[:8].replace("I", "1").replace("L", "1").replace("O", "0").replace(
            "U", "V"
        )
        out.append(
            S.DayTxn(
                f"{prefix}-{i}",
                "bank" if i % 2 == 0 else "charge",
                ref,
                5000 * (i + 1),
                base + timedelta(minutes=9 * i),
            )
        )
    return out


def write(tmp: Path, layout: str, suffix: str, prefix: str) -> tuple[Path, int]:
    path = tmp / f"{layout}-{prefix}.{suffix}"
    rows = S.statement_rows(
        DAY, txns(prefix), S.DayFaults(static_qr=[(7000, datetime(2030, 11, 20, 9, 0, tzinfo=S.VN))])
    )
    return path, S.write_statement(rows, path, layout=layout, day=DAY)


@pytest.mark.parametrize("layout", S.LAYOUTS)
@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
async def test_every_preset_and_format_imports_and_reimport_changes_nothing(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path, layout: str, suffix: str, unique: str
) -> None:
    assert set(S.LAYOUTS) <= set(formats.presets(CONFIG))
    path, n = write(tmp_path, layout, suffix, unique[:4])
    provider = f"bank-{unique}"
    async with transaction(sessionmaker) as db:
        out = await import_file(
            db, provider=provider, kind="bank-statement", path=path, config_dir=CONFIG, preset=layout
        )
    assert out["lines"] == n == out["new_lines"] == 4  # 3 bank credits + the static-QR credit
    async with sessionmaker() as db:
        rows = (
            (
                await db.execute(
                    select(StatementLine).where(StatementLine.provider == provider).order_by(StatementLine.line_no)
                )
            )
            .scalars()
            .all()
        )
    assert [r.amount_vnd for r in rows] == [5000, 15000, 25000, 7000]
    assert all(r.business_date == DAY and r.direction == "credit" and r.raw and len(r.raw_hash) == 64 for r in rows)
    assert rows[0].tokens == [txns(unique[:4])[0].reference]
    assert rows[3].tokens == []  # the static-QR credit carries no reference
    if layout != "generic":  # the generic layout has no time column: lines are dated at the end of the day
        assert timedelta(0) < rows[0].booked_at - datetime(2030, 11, 20, 8, 0, tzinfo=S.VN) < timedelta(minutes=1)
    # the same file again: recognised, nothing changes
    async with transaction(sessionmaker) as db:
        again = await import_file(
            db, provider=provider, kind="bank-statement", path=path, config_dir=CONFIG, preset=layout
        )
    assert again["already_imported"] and again["new_lines"] == 0
    # the same lines in a differently-named export (other bytes): natural keys keep them once
    other = tmp_path / f"again.{suffix}"
    S.write_statement(
        S.statement_rows(
            DAY,
            txns(unique[:4]),
            S.DayFaults(static_qr=[(7000, datetime(2030, 11, 20, 9, 0, tzinfo=S.VN))]),
            opening_balance=1_000,  # another export of the same lines: the running balance differs
        ),
        other,
        layout=layout,
        day=DAY,
        account="0011009999999",
    )
    async with transaction(sessionmaker) as db:
        third = await import_file(
            db, provider=provider, kind="bank-statement", path=other, config_dir=CONFIG, preset=layout
        )
    assert not third["already_imported"] and third["new_lines"] == 0
    assert third["changed_lines"] == 4  # same keys, other raw text: kept as first imported, counted
    async with sessionmaker() as db:
        count = (
            await db.execute(select(func.count()).select_from(StatementLine).where(StatementLine.provider == provider))
        ).scalar()
    assert count == 4


@pytest.mark.parametrize(
    ("mutate", "line", "reason"),
    [
        (lambda s: s.replace("15.000", "15.OOO"), 7, "not a number"),
        (lambda s: s.replace("\n1,20/11/2030,", "\n1,2030-11-20,"), 6, "does not match"),
        (lambda s: s.replace(",,25.000,", ",1.000,25.000,"), 8, "exactly one of debit and credit"),
        (lambda s: s.replace("Ngày giao dịch", "Ngay"), 0, "no header row"),
    ],
)
async def test_malformed_file_is_refused_with_its_line_and_nothing_is_imported(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path, unique: str, mutate: object, line: int, reason: str
) -> None:
    path, _ = write(tmp_path, "vietcombank", "csv", unique[:4])
    path.write_text(mutate(path.read_text(encoding="utf-8-sig")), encoding="utf-8-sig")  # type: ignore[operator]
    provider = f"bad-{unique}"
    with pytest.raises(ImportRefused) as err:
        async with transaction(sessionmaker) as db:
            await import_file(
                db, provider=provider, kind="bank-statement", path=path, config_dir=CONFIG, preset="vietcombank"
            )
    assert err.value.details["line"] == line and reason in err.value.details["reason"]
    async with sessionmaker() as db:
        assert (
            await db.execute(select(func.count()).select_from(StatementLine).where(StatementLine.provider == provider))
        ).scalar() == 0
        assert (
            await db.execute(select(func.count()).select_from(ReconFile).where(ReconFile.provider == provider))
        ).scalar() == 0


async def test_repeated_bank_reference_in_one_file_is_refused(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path, unique: str
) -> None:
    path, _ = write(tmp_path, "vietcombank", "csv", unique[:4])
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    path.write_text("\n".join([*lines[:-1], lines[-2], lines[-1]]) + "\n", encoding="utf-8-sig")
    with pytest.raises(ImportRefused) as err:
        async with transaction(sessionmaker) as db:
            await import_file(
                db, provider=f"dup-{unique}", kind="bank-statement", path=path, config_dir=CONFIG, preset="vietcombank"
            )
    assert err.value.details["line"] == 10 and "already on line 9" in err.value.details["reason"]


async def test_settlement_report_imports_lines_and_the_transfer(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path, unique: str
) -> None:
    ts = txns(unique[:4])
    faults = S.DayFaults(per_txn={ts[1].id: "refund_reversal"})
    provider = f"gw{unique}"
    path = tmp_path / "ds.csv"
    n = S.write_settlement(S.settlement_rows(DAY, ts, faults, provider=provider), path, provider=provider, day=DAY)
    assert n == 5  # 3 charges, 1 refund, the transfer
    async with transaction(sessionmaker) as db:
        out = await import_file(db, provider=provider, kind="settlement", path=path, config_dir=CONFIG)
    assert out["lines"] == 5 and out["new_lines"] == 5
    async with sessionmaker() as db:
        lines = (
            (
                await db.execute(
                    select(SettlementLine).where(SettlementLine.provider == provider).order_by(SettlementLine.line_no)
                )
            )
            .scalars()
            .all()
        )
        batch = (await db.execute(select(SettlementBatch).where(SettlementBatch.provider == provider))).scalar_one()
    assert [ln.kind for ln in lines] == ["payment", "refund", "payment", "payment"]
    assert all(ln.gross_vnd - ln.fee_vnd == ln.net_vnd for ln in lines if ln.kind == "payment")
    assert batch.transfer_total_vnd == sum(ln.net_vnd for ln in lines) - sum(ln.refund_vnd for ln in lines)
    assert batch.settlement_date == DAY
