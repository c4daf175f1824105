"""The CSV statement parsed by PostgreSQL (reconciliation.sqlparse) gives exactly the rows the Python rules
(formats.statement_records) give; what it cannot read exactly falls back to them, leaving nothing behind."""

from __future__ import annotations

import random
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.kit.db import transaction
from parking.payments.vietqr import CROCKFORD
from parking.settings import REPO_ROOT
from reconciliation import formats, sqlparse
from reconciliation.importer import ImportRefused, _asyncpg, import_file
from simulators.payment_provider import statements as S

CONFIG = REPO_ROOT / "config"
DAY = date(2030, 12, 3)
COLS = ("file_id", "provider", *formats.STATEMENT_COLUMNS)


def _day_txns(n: int, seed: int) -> tuple[list[S.DayTxn], S.DayFaults]:
    rng = random.Random(seed)
    start = datetime(2030, 12, 3, 0, 5, tzinfo=S.VN)
    txns, faults = [], S.DayFaults(static_qr=[(7000, start + timedelta(hours=3)), (7000, start + timedelta(hours=3))])
    modes = ("duplicate_credit", "underpaid", "x100", "fee_at_source", "refund_reversal", "truncated_reference",
             "spaced_reference", "overpaid")  # fmt: skip
    for i in range(n):
        ref = "PK" + "".join(rng.choice(CROCKFORD) for _ in range(8))
        t = S.DayTxn(f"T{seed}-{i}", "bank", ref, rng.choice((3000, 5000, 1_250_000)), start + timedelta(minutes=7 * i))
        txns.append(t)
        if i % 3 == 0:
            faults.per_txn[t.id] = modes[(i // 3) % len(modes)]
    return txns, faults


async def _conn(db: AsyncSession) -> Any:
    await db.execute(text("SELECT 1"))  # begin the transaction the temporary tables live in
    return await _asyncpg(db)


async def _parsed_both_ways(conn: Any, path: Path, preset: formats.Preset) -> tuple[list[Any], list[Any]]:
    fid = uuid.uuid4()
    await conn.execute("DROP TABLE IF EXISTS t_sql")
    await conn.execute(
        f"CREATE TEMP TABLE t_sql ON COMMIT DROP AS SELECT {', '.join(COLS)} FROM recon_statement_lines WITH NO DATA"
    )
    await sqlparse.parse_into(conn, path, preset, "t_sql", fid, "p")
    sql_rows = [tuple(r) for r in await conn.fetch(f"SELECT {', '.join(COLS)} FROM t_sql ORDER BY line_no")]
    py_rows = [(fid, "p", *r) for r in formats.statement_records(path, preset)]
    return sql_rows, py_rows


@pytest.mark.parametrize("layout", S.LAYOUTS)
async def test_sql_parse_equals_the_python_rules_for_every_preset(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path, layout: str
) -> None:
    txns, faults = _day_txns(60, seed=len(layout))
    path = tmp_path / f"{layout}.csv"
    S.write_statement(S.statement_rows(DAY, txns, faults, seed=3), path, layout=layout, day=DAY)
    async with sessionmaker() as db, db.begin():
        conn = await _conn(db)
        sql_rows, py_rows = await _parsed_both_ways(conn, path, formats.load_preset(CONFIG, layout))
    assert len(py_rows) > 60
    assert sql_rows == py_rows


HEADER = "STT,Ngày giao dịch,Giờ giao dịch,Số tham chiếu,Số tiền ghi nợ,Số tiền ghi có,Số dư,Mô tả\n"


async def test_awkward_lines_read_the_same(sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path) -> None:
    """Quoted cells with the delimiter, blank lines, identical lines without a reference, odd amounts, several
    references in one narrative, Vietnamese text, white space around cells, the footer."""
    path = tmp_path / "vcb.csv"
    path.write_text(
        "SAO KÊ TÀI KHOẢN\nSố tài khoản,0011\n\n"
        + HEADER
        + '1,03/12/2030,08:00:01,FT1,,"1.250.000","1.250.000","Chuyển tiền, PKABCDEFGH và pk1234 5678"\n'
        + "\n,,,\n"
        + "2,03/12/2030,08:00:02,,,5.000,,TIEN GUI XE PKOIL23456 PKOIL23456\n"
        + "3,03/12/2030,08:00:02,,,5.000,,TIEN GUI XE PKOIL23456 PKOIL23456\n"
        + '4, 03/12/2030 ,08:00:03, FT4 ,"1.000,00",,,Hoàn trả PKPKABCDEFGH đơn hàng\n'
        + "5,03/12/2030,23:59:59,FT5,,(0) ,,PK12345\n".replace("(0) ", "7.000")
        + "6,03/12/2030,09:00:00,FT6,,12.000,,IBFT PKABC PKDEFGHJKM PKDEFGHJ\n"
        + "7, 03/12/2030 ,09:00:00, FT9 ,,3.000 ,,  spaced narrative PKABCDEFGH \n"
        + "Tổng cộng,,,,,,,\n"
        + "7,03/12/2030,09:00:00,FT7,,1,,after the footer\n",
        encoding="utf-8-sig",
    )
    async with sessionmaker() as db, db.begin():
        conn = await _conn(db)
        sql_rows, py_rows = await _parsed_both_ways(conn, path, formats.load_preset(CONFIG, "vietcombank"))
    assert [r[3] for r in py_rows] == [5, 8, 9, 10, 11, 12, 13]
    assert sql_rows == py_rows


@pytest.mark.parametrize(
    "line",
    [
        "8,03/12/2030,08:00:01,FT8,,15.OOO,,PKABCDEFGH",  # not a number
        "8,31/02/2030,08:00:01,FT8,,15.000,,PKABCDEFGH",  # no such day
        "8,03/12/2030,,FT8,,15.000,,PKABCDEFGH",  # no time
        "8,03/12/2030,08:00:01,FT8,5.000,15.000,,PKABCDEFGH",  # both debit and credit
        "8,03/12/2030,08:00:01,FT8,,-15.000,,PKABCDEFGH",  # a negative credit
        '8,03/12/2030,08:00:01,FT8,,15.000,,"a cell across\nlines"',
    ],
)
async def test_a_line_the_sql_path_cannot_read_goes_to_the_python_rules(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path, line: str, unique: str
) -> None:
    path = tmp_path / "vcb.csv"
    path.write_text(
        HEADER + "1,03/12/2030,08:00:00,FT1,,5.000,,PKABCDEFGH\n" + line + "\n", encoding="utf-8-sig", newline=""
    )
    preset = formats.load_preset(CONFIG, "vietcombank")
    async with sessionmaker() as db, db.begin():
        conn = await _conn(db)
        await conn.execute(
            f"CREATE TEMP TABLE t_fb ON COMMIT DROP AS SELECT {', '.join(COLS)} FROM recon_statement_lines WITH NO DATA"
        )
        with pytest.raises(sqlparse.Fallback):
            await sqlparse.parse_into(conn, path, preset, "t_fb", uuid.uuid4(), "p")
    refused = "lines" not in line
    async with sessionmaker() as db:
        if refused:  # through import_file: the Python rules refuse it with the line number, nothing is left
            with pytest.raises(ImportRefused) as exc:
                async with transaction(sessionmaker) as tx:
                    await import_file(tx, provider=f"fb-{unique}", kind="bank-statement", path=path,
                                      config_dir=CONFIG, preset="vietcombank")  # fmt: skip
            assert exc.value.details["line"] == 3
        else:  # a quoted cell across two lines is fine for the csv module: imported by the Python rules
            async with transaction(sessionmaker) as tx:
                out = await import_file(tx, provider=f"fb-{unique}", kind="bank-statement", path=path,
                                        config_dir=CONFIG, preset="vietcombank")  # fmt: skip
            assert out["new_lines"] == 2
        n = (
            await db.execute(
                text("SELECT count(*) FROM recon_statement_lines WHERE provider = :p"), {"p": f"fb-{unique}"}
            )
        ).scalar()
        assert n == (0 if refused else 2)


TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), max_size=8)
NARRATIVE = st.text(
    alphabet=st.sampled_from(list("PKpk0123456789ABCDEFGHIJKLMNOQRSTUVWXYZoil .-/ĐđăÂ")), max_size=40
) | st.builds(lambda a, r, b: a + r + b, TEXT, st.sampled_from(["PKABCDEFGH", "PK0O1IL234", "PKPK"]), TEXT)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(narratives=st.lists(NARRATIVE, min_size=1, max_size=8))
async def test_reference_tokens_in_sql_are_the_rules_tokens(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path, narratives: list[str]
) -> None:
    path = tmp_path / "tokens.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        fh.write(HEADER)
        for i, n in enumerate(narratives):
            cell = '"' + n.replace('"', '""') + '"' if ("," in n or '"' in n) else n
            fh.write(f"{i},03/12/2030,08:00:{i:02d},FT{i},,5.000,,{cell}\n")
    async with sessionmaker() as db, db.begin():
        conn = await _conn(db)
        try:
            sql_rows, py_rows = await _parsed_both_ways(conn, path, formats.load_preset(CONFIG, "vietcombank"))
        except sqlparse.Fallback:
            return  # read by the Python rules (a character PostgreSQL upper-cases differently, a blank cell...)
    assert sql_rows == py_rows  # the Python rows carry extract_tokens' tokens
