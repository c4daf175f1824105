"""A CSV bank statement parsed by PostgreSQL, set-based (issue 10's benchmark: a million lines in seconds).

Python only streams the file's lines into a staging table with `COPY` (its line number and raw text; the cells
too for the rare line that needs the `csv` module: quotes, odd white space). PostgreSQL then splits the
cells, hashes the raw lines, flattens the narratives, extracts the reference tokens and builds the natural
keys in one `INSERT ... SELECT`. What has few distinct values and a subtle grammar (the dates and times, the
amounts that are not plain `1.250.000`) is parsed by the Python rules themselves (`formats.parse_when`,
`formats.parse_amount`) once per distinct value and joined back, so both paths give the same result.

`formats.statement_records` stays the specification and the fall-back: anything this path does not read
exactly as it would (a multi-line quoted cell, a character whose upper case is ASCII, a value the rules
refuse) returns None, leaves nothing behind (a savepoint) and the caller runs the Python parser, which
refuses a malformed file with its line number and reason or imports it.
"""

from __future__ import annotations

import csv
import re
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from reconciliation.formats import Malformed, Preset, _cell_text, iter_rows, parse_amount, parse_when
from reconciliation.rules import PARTIAL_BODY_LEN

CHUNK_BYTES = 1 << 20
NULL = "\\N"  # COPY's text format
SEP = "\x01"  # joins the cells of a line the csv module read (never in a bank's text; checked)
PY_WS = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"  # the ASCII characters str.strip() removes
_UNICODE_WS = re.compile(r"[\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")
CROCKFORD_RE = "[0-9A-HJKMNP-TV-Z]"


class Fallback(Exception):
    """This file is read by the Python parser instead."""


@lru_cache(maxsize=1)
def _upper_to_ascii() -> re.Pattern[str]:
    """Non-ASCII characters that Python upper-cases into [A-Z0-9] (ß → SS, ı → I, ﬁ → FI, ...): PostgreSQL's
    upper() does not, so a narrative holding one is flattened by the Python rules instead."""
    chars = [
        chr(c)
        for c in range(0x80, 0x110000)
        if not 0xD800 <= c <= 0xDFFF and any("A" <= u <= "Z" or "0" <= u <= "9" for u in chr(c).upper())
    ]
    return re.compile("[" + "".join(re.escape(c) for c in chars) + "]")


def _escape(s: str) -> str:
    """A value for COPY's text format."""
    if "\\" in s:
        s = s.replace("\\", "\\\\")
    if "\t" in s:
        s = s.replace("\t", "\\t")
    if "\r" in s or "\n" in s:
        s = s.replace("\r", "\\r").replace("\n", "\\n")
    return s


def _header(path: Path, preset: Preset) -> tuple[int, dict[str, int]]:
    """The header row's line number and the column index of each preset key (as statement_records finds them)."""
    cols = preset.columns
    for line_no, cells, _raw in iter_rows(path, encoding=preset.encoding, delimiter=preset.delimiter):
        texts = [_cell_text(c) for c in cells]
        if preset.header_marker in texts:
            header = {t: i for i, t in enumerate(texts) if t}
            if [cols[k] for k in cols if cols[k] not in header]:
                raise Fallback  # the Python parser words the refusal
            return line_no, {k: header[name] for k, name in cols.items()}
    raise Fallback


async def _lines(path: Path, preset: Preset, header_line: int) -> AsyncIterator[bytes]:
    """The data lines after the header, as COPY text rows: line number, raw text, cells (only when needed)."""
    delim = preset.delimiter
    strip_set = PY_WS + delim
    markers = tuple(preset.stop_markers)
    marker_re = re.compile("|".join(re.escape(m) for m in markers)) if markers else None
    ws, d = re.escape(PY_WS), re.escape(delim)
    # a cell with white space at an edge: split and stripped here, so PostgreSQL never has to trim
    edge_ws = re.compile(f"(?:^|{d})[{ws}]|[{ws}](?:{d}|$)")
    out: list[str] = []
    size = 0
    with path.open(encoding=preset.encoding, newline="") as fh:
        for line_no, line in enumerate(fh, start=1):
            if line_no <= header_line:
                continue
            raw = line.rstrip("\r\n")
            cells: list[str] | None = None
            ascii_line = raw.isascii()
            if '"' in raw or (not ascii_line and _UNICODE_WS.search(raw)):
                rows = list(csv.reader([raw], delimiter=delim))
                if len(rows) != 1 or raw.count('"') % 2:
                    raise Fallback  # a quoted cell across lines: the csv module's reading of the whole file
                cells = [c.strip() for c in rows[0]]
                if any(SEP in c for c in cells):
                    raise Fallback
            elif not raw.strip(strip_set):
                continue  # a blank line (every cell empty)
            elif edge_ws.search(raw):
                cells = [c.strip() for c in raw.split(delim)]
                if any(SEP in c for c in cells):
                    raise Fallback
            if marker_re is not None and marker_re.search(raw):
                first = next((c for c in (cells or [c.strip() for c in raw.split(delim)]) if c), None)
                if first is not None and first.startswith(markers):
                    break  # the footer ends the table
            if cells is not None and not any(cells):
                continue
            if not ascii_line and _upper_to_ascii().search(raw):  # (built on the first non-ASCII line)
                raise Fallback
            if "\x00" in raw:
                raise Fallback
            row = f"{line_no}\t{_escape(raw)}\t{_escape(SEP.join(cells)) if cells is not None else NULL}\n"
            out.append(row)
            size += len(row)
            if size >= CHUNK_BYTES:
                yield "".join(out).encode()
                out, size = [], 0
    if out:
        yield "".join(out).encode()


def _cell(idx: dict[str, int], key: str) -> str:
    """SQL for a cell's text ('' when the line has no such cell). No trimming: a line with white space at the
    edge of a cell comes with its cells split and stripped by Python (see _lines)."""
    i = idx.get(key)
    if i is None:
        return "''"
    return f"coalesce(c.f[{i + 1}], '')"


async def parse_into(conn: Any, path: Path, preset: Preset, stage: str, file_id: uuid.UUID, provider: str) -> None:
    """Fill the temporary table `stage` (columns of recon_statement_lines) from a CSV statement, or raise
    Fallback having left nothing behind."""
    if path.suffix.lower() not in (".csv", ".txt") or preset.encoding.lower().replace("_", "-") not in (
        "utf-8",
        "utf-8-sig",
        "utf8",
    ):
        raise Fallback  # XLSX is streamed through openpyxl by the Python parser
    header_line, idx = _header(path, preset)
    await conn.execute("DROP TABLE IF EXISTS rc_raw")
    await conn.execute("CREATE TEMP TABLE rc_raw (line_no int, raw text, cells text) ON COMMIT DROP")
    await conn.copy_to_table("rc_raw", source=_lines(path, preset, header_line), format="text")
    delim = preset.delimiter.replace("'", "''")
    await conn.execute("DROP TABLE IF EXISTS rc_cells")
    # One pass over the lines: the cells, the raw line's hash, the narrative flattened (upper case in the "C"
    # collation: ASCII only, as the rules' [A-Z0-9] needs; lines where Python's upper() differs fell back) and
    # split at each "PK".
    await conn.execute(
        f"""CREATE TEMP TABLE rc_cells ON COMMIT DROP AS
            SELECT y.*, string_to_array(regexp_replace(upper(y.search COLLATE "C"), '[^A-Z0-9]+', '', 'g'), 'PK')
                          AS parts
              FROM (SELECT c.line_no, c.raw, encode(sha256(convert_to(c.raw, 'UTF8')), 'hex') AS h,
                           {_cell(idx, "date")} AS d, {_cell(idx, "time")} AS t,
                           {_cell(idx, "debit")} AS debit, {_cell(idx, "credit")} AS credit,
                           {_cell(idx, "balance")} AS balance, {_cell(idx, "bank_ref")} AS bank_ref,
                           CASE WHEN {_cell(idx, "payer_name")} <> ''
                                THEN {_cell(idx, "narrative")} || ' ' || {_cell(idx, "payer_name")}
                                ELSE {_cell(idx, "narrative")} END AS search,
                           {_cell(idx, "payer_account")} AS payer_account
                      FROM (SELECT line_no, raw, CASE WHEN cells IS NULL THEN string_to_array(raw, '{delim}')
                                                      ELSE string_to_array(cells, chr(1)) END AS f
                              FROM rc_raw) c) y"""
    )
    await conn.execute("DROP TABLE rc_raw")
    # The dates and times: few distinct values, read by the Python rules themselves.
    when: list[tuple[str, str, datetime]] = []
    for r in await conn.fetch("SELECT DISTINCT d, t FROM rc_cells"):
        try:
            when.append((r["d"], r["t"], parse_when(r["d"] or None, r["t"] or None, preset)))
        except ValueError as exc:
            raise Fallback from exc
    await conn.execute("DROP TABLE IF EXISTS rc_when")
    await conn.execute("CREATE TEMP TABLE rc_when (d text, t text, at timestamptz) ON COMMIT DROP")
    await conn.copy_records_to_table("rc_when", records=when)
    await conn.execute("ANALYZE rc_when")
    # Amounts: plain '1.250.000' (the Python rule's fast path) in SQL; anything else by parse_amount.
    plain = "^[0-9][0-9.]*$" if preset.thousands == "." else "^[0-9]+$"
    odd: list[tuple[str, int]] = []
    for r in await conn.fetch(
        f"""SELECT DISTINCT v FROM (SELECT debit AS v FROM rc_cells UNION ALL SELECT credit FROM rc_cells
                                    UNION ALL SELECT balance FROM rc_cells) x
             WHERE v <> '' AND v !~ '{plain}'"""
    ):
        try:
            odd.append((r["v"], parse_amount(r["v"], preset.thousands, preset.decimal)))
        except ValueError as exc:
            raise Fallback from exc
    await conn.execute("DROP TABLE IF EXISTS rc_amounts")
    await conn.execute("CREATE TEMP TABLE rc_amounts (v text PRIMARY KEY, n bigint) ON COMMIT DROP")
    if odd:
        await conn.copy_records_to_table("rc_amounts", records=odd)

    def amount(col: str) -> str:
        return (
            f"CASE WHEN {col} = '' THEN 0 WHEN {col} ~ '{plain}' THEN replace({col}, '.', '')::bigint "
            f"ELSE (SELECT a.n FROM rc_amounts a WHERE a.v = {col}) END"
        )

    p = PARTIAL_BODY_LEN
    crock8, crockp = f"^{CROCKFORD_RE}{{8}}", f"^{CROCKFORD_RE}{{{p}}}"

    def many(n: int) -> str:
        """Tokens of a narrative with several "PK": each body may run across the next "PK" (rules.extract_tokens)."""
        return f"""(SELECT coalesce(array_agg(b.tok ORDER BY b.k), '{{}}') FROM (
                      SELECT DISTINCT ON (tok) tok, k FROM (
                        SELECT k, 'PK' || left(body, {n}) AS tok FROM (
                          SELECT k, translate(left(array_to_string(x.parts[k:], 'PK'), 8), 'OIL', '011') AS body
                            FROM generate_series(2, cardinality(x.parts)) k) q
                         WHERE body ~ '{crock8 if n == 8 else crockp}') r ORDER BY tok, k) b)"""

    # Lines without a bank reference are keyed by their hash and occurrence (two identical lines, two transfers).
    await conn.execute(
        f"""INSERT INTO {stage} (file_id, provider, natural_key, line_no, raw, raw_hash, booked_at, business_date,
                                 direction, amount_vnd, balance_vnd, bank_ref, narrative, payer_account, tokens,
                                 partial_tokens)
            SELECT $1, $2,
                   CASE WHEN x.bank_ref <> '' THEN 'ref:' || x.bank_ref ELSE 'raw:' || x.h || ':' || (n.occ - 1) END,
                   x.line_no, x.raw, x.h, w.at, (w.at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date,
                   CASE WHEN x.cr > 0 THEN 'credit' ELSE 'debit' END,
                   CASE WHEN x.de >= 0 AND x.cr >= 0 AND (x.de > 0) <> (x.cr > 0) THEN greatest(x.cr, x.de) END,
                   CASE WHEN x.balance = '' THEN NULL ELSE {amount("x.balance")} END,
                   nullif(x.bank_ref, ''), x.search, nullif(x.payer_account, ''),
                   CASE WHEN x.np < 2 THEN '{{}}'::text[]
                        WHEN x.np = 2 THEN CASE WHEN x.b ~ '{crock8}' THEN ARRAY['PK' || x.b] ELSE '{{}}' END
                        ELSE {many(8)} END,
                   CASE WHEN x.np < 2 THEN '{{}}'::text[]
                        WHEN x.np = 2 THEN CASE WHEN x.b ~ '{crockp}' THEN ARRAY['PK' || left(x.b, {p})] ELSE '{{}}' END
                        ELSE {many(p)} END
              FROM (SELECT c.line_no, c.raw, c.h, c.d, c.t, c.balance, c.bank_ref, c.search, c.payer_account, c.parts,
                           cardinality(c.parts) AS np, translate(left(c.parts[2], 8), 'OIL', '011') AS b,
                           {amount("c.debit")} AS de, {amount("c.credit")} AS cr
                      FROM rc_cells c OFFSET 0) x
              JOIN rc_when w ON w.d = x.d AND w.t = x.t
              LEFT JOIN (SELECT line_no, row_number() OVER (PARTITION BY h ORDER BY line_no) AS occ
                           FROM rc_cells WHERE bank_ref = '') n ON n.line_no = x.line_no""",
        file_id,
        provider,
    )
    # What the Python rules refuse line by line: let them word it (nothing of this path stays behind).
    bad = await conn.fetchval(
        f"""SELECT (SELECT count(*) FROM rc_cells) - (SELECT count(*) FROM {stage})
                   + (SELECT count(*) FROM {stage} WHERE amount_vnd IS NULL)"""
    )
    if bad:
        raise Fallback
    for t in ("rc_cells", "rc_when", "rc_amounts"):
        await conn.execute(f"DROP TABLE {t}")


__all__ = ["Fallback", "Malformed", "parse_into"]
