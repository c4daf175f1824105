"""Import a bank statement or a settlement report: streamed, bulk-COPYed into a staging table, then merged
on natural keys. Runs in the caller's transaction (never commits): a malformed file raises and the caller's
rollback leaves nothing of it behind.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import asyncpg
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from parking.kit.errors import AppError
from parking.models import ReconFile
from reconciliation import formats, sqlparse
from reconciliation.formats import Malformed, Transfer
from reconciliation.settings import get_recon_settings

Kind = Literal["bank_statement", "settlement"]
KINDS: dict[str, Kind] = {"bank-statement": "bank_statement", "settlement": "settlement"}
CHUNK = 5000


class ImportRefused(AppError):
    def __init__(self, line: int, reason: str, filename: str) -> None:
        where = f"line {line}" if line else "file"
        super().__init__(
            "import_refused",
            f"{filename}: {where}: {reason}. Nothing was imported.",
            422,
            {"line": line, "reason": reason, "file": filename},
        )


async def _asyncpg(db: AsyncSession) -> Any:
    conn = await db.connection()
    raw = await conn.get_raw_connection()
    return raw.driver_connection


async def _chunks(rows: Iterator[tuple[Any, ...]], head: tuple[Any, ...]) -> AsyncIterator[tuple[Any, ...]]:
    """Hand rows to COPY, yielding to the event loop now and then (an API import must not freeze the server)."""
    n = 0
    for r in rows:
        yield head + r
        n += 1
        if n % CHUNK == 0:
            await asyncio.sleep(0)


async def import_file(
    db: AsyncSession,
    *,
    provider: str,
    kind: str,
    path: Path,
    config_dir: Path,
    preset: str | None = None,
    filename: str | None = None,
    covers_until: datetime | None = None,
) -> dict[str, Any]:
    """`covers_until`: the file was exported during its day and covers only up to then (the day is reconciled
    up to that cut-off, see `matching.window_end`); None for a file of the whole day."""
    if covers_until is not None and covers_until.tzinfo is None:
        raise AppError("naive_datetime", "covers_until must carry its time zone", 422)
    if kind not in KINDS and kind not in KINDS.values():
        raise AppError("bad_kind", f"kind must be one of {sorted(KINDS)}", 422)
    k: Kind = KINDS[kind] if kind in KINDS else ("settlement" if kind == "settlement" else "bank_statement")
    name = filename or path.name
    digest = formats.sha256_file(path)
    existing = (
        await db.execute(
            select(ReconFile).where(ReconFile.provider == provider, ReconFile.kind == k, ReconFile.sha256 == digest)
        )
    ).scalar_one_or_none()
    if existing is not None:
        return {
            "file_id": str(existing.id),
            "provider": provider,
            "kind": k,
            "already_imported": True,
            "lines": existing.lines,
            "new_lines": 0,
        }
    file_id = uuid.uuid4()
    preset_name = None
    if k == "bank_statement":
        preset_name = preset or (provider if provider in formats.presets(config_dir) else "generic")
        try:
            p = formats.load_preset(config_dir, preset_name)
        except FileNotFoundError as exc:
            raise AppError("unknown_preset", str(exc), 422) from exc
    db.add(
        ReconFile(
            id=file_id,
            provider=provider,
            kind=k,
            preset=preset_name,
            filename=name,
            sha256=digest,
            lines=0,
            new_lines=0,
            covers_until=covers_until,
        )
    )
    await db.flush()
    conn = await _asyncpg(db)
    mem = int(get_recon_settings().work_mem_mb)
    await conn.execute(f"SET LOCAL work_mem = '{mem}MB'")
    await conn.execute(f"SET LOCAL maintenance_work_mem = '{max(mem, 64)}MB'")
    try:
        if k == "bank_statement":
            fast = await _sql_parsed(conn, path, p, file_id, provider)
            lines, new, changed = fast or await _copy_merge(
                conn,
                "recon_statement_lines",
                formats.STATEMENT_COLUMNS,
                formats.statement_records(path, p),
                file_id,
                provider,
            )
            batches = 0
        else:
            transfers: list[Transfer] = []

            def split() -> Iterator[tuple[Any, ...]]:
                for rec in formats.settlement_records(path):
                    if isinstance(rec, Transfer):
                        transfers.append(rec)
                    else:
                        yield rec

            lines, new, changed = await _copy_merge(
                conn, "recon_settlement_lines", formats.SETTLEMENT_COLUMNS, split(), file_id, provider
            )
            batches = 0
            for t in transfers:
                res = await db.execute(
                    text(
                        "INSERT INTO recon_settlement_batches (file_id, provider, batch_id, settlement_date, "
                        "transfer_total_vnd, transfer_at, raw) VALUES (:f, :p, :b, :d, :t, :at, :raw) "
                        "ON CONFLICT (provider, batch_id) DO NOTHING"
                    ),
                    {
                        "f": file_id,
                        "p": provider,
                        "b": t.batch_id,
                        "d": t.settlement_date,
                        "t": t.transfer_total_vnd,
                        "at": t.transfer_at,
                        "raw": t.raw,
                    },
                )
                batches += res.rowcount  # type: ignore[attr-defined]
            lines += len(transfers)
            new += batches
    except Malformed as exc:
        raise ImportRefused(exc.line, exc.reason, name) from exc
    await db.execute(
        text("UPDATE recon_files SET lines = :n, new_lines = :m WHERE id = :id"), {"n": lines, "m": new, "id": file_id}
    )
    return {
        "file_id": str(file_id),
        "provider": provider,
        "kind": k,
        "preset": preset_name,
        "already_imported": False,
        "lines": lines,
        "new_lines": new,
        "changed_lines": changed,
    }


async def _stage(conn: Any, table: str, cols: tuple[str, ...]) -> str:
    stage = f"stage_{table}"
    await conn.execute(f"DROP TABLE IF EXISTS {stage}")
    # Plain columns, no constraints: the merge is where keys are enforced.
    await conn.execute(
        f"CREATE TEMP TABLE {stage} ON COMMIT DROP AS SELECT {', '.join(cols)} FROM {table} WITH NO DATA"
    )
    return stage


async def _sql_parsed(
    conn: Any, path: Path, preset: formats.Preset, file_id: uuid.UUID, provider: str
) -> tuple[int, int, int] | None:
    """A CSV statement parsed by PostgreSQL (reconciliation.sqlparse); None when the Python parser must read it
    (XLSX, or a line that path does not read exactly as the rules do): then nothing of this attempt is left."""
    table = "recon_statement_lines"
    cols = ("file_id", "provider", *formats.STATEMENT_COLUMNS)
    await conn.execute("SAVEPOINT recon_sql_parse")
    try:
        stage = await _stage(conn, table, cols)
        await sqlparse.parse_into(conn, path, preset, stage, file_id, provider)
    except (sqlparse.Fallback, asyncpg.PostgresError):
        await conn.execute("ROLLBACK TO SAVEPOINT recon_sql_parse")
        await conn.execute("RELEASE SAVEPOINT recon_sql_parse")
        return None
    await conn.execute("RELEASE SAVEPOINT recon_sql_parse")
    return await _merge(conn, table, cols, stage)


async def _copy_merge(
    conn: Any,
    table: str,
    columns: tuple[str, ...],
    rows: Iterator[tuple[Any, ...]],
    file_id: uuid.UUID,
    provider: str,
) -> tuple[int, int, int]:
    """COPY the rows into a staging table, refuse repeated keys, merge new keys; (lines, new, changed)."""
    cols = ("file_id", "provider", *columns)
    stage = await _stage(conn, table, cols)
    await conn.copy_records_to_table(stage, records=_chunks(rows, (file_id, provider)), columns=list(cols))
    return await _merge(conn, table, cols, stage)


async def _merge(conn: Any, table: str, cols: tuple[str, ...], stage: str) -> tuple[int, int, int]:
    dup = await conn.fetchrow(
        f"SELECT natural_key, min(line_no) AS a, max(line_no) AS b FROM {stage} "
        "GROUP BY natural_key HAVING count(*) > 1 ORDER BY min(line_no) LIMIT 1"
    )
    if dup is not None:
        raise Malformed(dup["b"], f"the same transaction ({dup['natural_key']}) is already on line {dup['a']}")
    lines = await conn.fetchval(f"SELECT count(*) FROM {stage}")
    changed = await conn.fetchval(
        f"SELECT count(*) FROM {stage} s JOIN {table} t ON t.provider = s.provider AND t.natural_key = s.natural_key "
        "WHERE t.raw_hash <> s.raw_hash"
    )
    status = await conn.execute(
        f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(cols)} FROM {stage} "
        "ORDER BY line_no ON CONFLICT (provider, natural_key) DO NOTHING"
    )
    await conn.execute(f"DROP TABLE {stage}")
    new = int(status.split()[-1])
    if new > 10_000:  # a big import changes the table's shape: the nightly run's plans need fresh statistics
        await conn.execute(f"ANALYZE {table}")
    return int(lines), new, int(changed)
