"""Reading bank statements and settlement reports as banks and intermediaries export them. Pure parsing.

Files are streamed row by row (csv over the open file, openpyxl in read-only mode), never loaded whole.
A row that cannot be read raises `Malformed` with its line number and the reason.
"""

from __future__ import annotations

import csv
import hashlib
import json
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from reconciliation.rules import VN_TZ, extract_tokens

Cell = str | int | float | datetime | date | None


class Malformed(ValueError):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    columns: dict[str, str]
    encoding: str = "utf-8-sig"
    delimiter: str = ","
    header_marker: str = "Ngày giao dịch"
    date_format: str = "%d/%m/%Y"
    time_format: str | None = None
    thousands: str = "."
    decimal: str = ","
    stop_markers: tuple[str, ...] = field(default_factory=tuple)


REQUIRED_COLUMNS = ("date", "debit", "credit", "narrative")


def load_preset(config_dir: Path, name: str) -> Preset:
    path = config_dir / "banks" / f"{name}.toml"
    if not path.is_file():
        raise FileNotFoundError(
            f"no bank preset {name!r} (looked for {path}); presets: {', '.join(presets(config_dir))}"
        )
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    cols = dict(data.pop("columns"))
    missing = [c for c in REQUIRED_COLUMNS if c not in cols]
    if missing:
        raise ValueError(f"preset {name}: columns {missing} are required")
    data["stop_markers"] = tuple(data.get("stop_markers", ()))
    return Preset(columns=cols, **data)


def presets(config_dir: Path) -> list[str]:
    return sorted(p.stem for p in (config_dir / "banks").glob("*.toml"))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ------------------------------------------------------------------ rows


def iter_rows(
    path: Path, *, encoding: str = "utf-8-sig", delimiter: str = ","
) -> Iterator[tuple[int, list[Cell], str]]:
    """(line number, cells, raw text) of every row of a CSV or XLSX file, streamed."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        import openpyxl

        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            ws = wb.active
            assert ws is not None
            for i, row in enumerate(ws.iter_rows(values_only=True), start=1):
                cells: list[Cell] = [c if not isinstance(c, str) else c.strip() for c in row]
                while cells and cells[-1] in (None, ""):
                    cells.pop()
                raw = json.dumps([_cell_text(c) for c in cells], ensure_ascii=False)
                yield i, cells, raw
        finally:
            wb.close()
        return
    last: list[str] = [""]

    def lines(fh: Any) -> Iterator[str]:
        for line in fh:
            last[0] = line
            yield line

    try:
        with path.open(encoding=encoding, newline="") as fh:
            reader = csv.reader(lines(fh), delimiter=delimiter)
            for row in reader:
                yield reader.line_num, [c.strip() for c in row], last[0].rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise Malformed(0, f"not {encoding} text: {exc.reason}") from exc


def _cell_text(c: Cell) -> str:
    if c is None:
        return ""
    if isinstance(c, datetime):
        return c.isoformat()
    if isinstance(c, date):
        return c.isoformat()
    if isinstance(c, float) and c.is_integer():
        return str(int(c))
    return str(c)


def parse_amount(c: Cell, thousands: str = ".", decimal: str = ",") -> int:
    """Integer VND from '1.250.000', '1.250.000,00', 1250000 or ''; anything else is refused."""
    if c is None or c == "":
        return 0
    if isinstance(c, bool):
        raise ValueError(f"amount {c!r} is not a number")
    if isinstance(c, int):
        return c
    if isinstance(c, float):
        if not c.is_integer():
            raise ValueError(f"amount {c} has a fraction of a đồng")
        return int(c)
    if not isinstance(c, str):
        raise ValueError(f"amount {c!r} is not a number")
    if thousands == "." and c.replace(".", "").isdigit():  # the common case, fast: '1.250.000'
        return int(c.replace(".", ""))
    s = c.replace(" ", "").replace("\u00a0", "")
    neg = s.startswith("-") or (s.startswith("(") and s.endswith(")"))
    s = s.strip("-()+")
    if decimal and decimal in s:
        s, frac = s.rsplit(decimal, 1)
        if frac.strip("0"):
            raise ValueError(f"amount {c!r} has a fraction of a đồng")
    if thousands:
        s = s.replace(thousands, "")
    if not s.isdigit():
        raise ValueError(f"amount {c!r} is not a number")
    return -int(s) if neg else int(s)


def parse_when(day: Cell, tod: Cell, preset: Preset) -> datetime:
    """A tz-aware time from the statement's local date (and time); without a time, the end of the day."""
    if isinstance(day, datetime):
        local = day
    elif isinstance(day, date):
        local = datetime.combine(day, time(23, 59, 59))
    elif isinstance(day, str) and day:
        local = _strptime(day, preset.date_format)
        if "%H" not in preset.date_format and not preset.time_format:
            local = local.replace(hour=23, minute=59, second=59)
    else:
        raise ValueError("the date is empty")
    if preset.time_format and "time" in preset.columns:
        if isinstance(tod, time):
            local = datetime.combine(local.date(), tod)
        elif isinstance(tod, datetime):
            local = datetime.combine(local.date(), tod.time())
        elif isinstance(tod, str) and tod:
            local = datetime.combine(local.date(), _strptime(tod, preset.time_format).time())
        else:
            raise ValueError("the time is empty")
    return local.replace(tzinfo=VN_TZ)


@lru_cache(maxsize=200_000)
def _strptime(value: str, fmt: str) -> datetime:
    """strptime is slow and a statement repeats its dates and times: parse each distinct value once,
    and the two layouts every Vietnamese bank uses by hand (same result, checked by datetime itself)."""
    try:
        if fmt == "%d/%m/%Y" and len(value) == 10 and value[2] == value[5] == "/":
            return datetime(int(value[6:]), int(value[3:5]), int(value[:2]))
        if fmt == "%H:%M:%S" and len(value) == 8 and value[2] == value[5] == ":":
            return datetime(1900, 1, 1, int(value[:2]), int(value[3:5]), int(value[6:]))
        return datetime.strptime(value, fmt)
    except ValueError as exc:
        raise ValueError(f"date/time {value!r} does not match {fmt}") from exc


# ------------------------------------------------------------------ bank statement

STATEMENT_COLUMNS = (
    "natural_key",
    "line_no",
    "raw",
    "raw_hash",
    "booked_at",
    "business_date",
    "direction",
    "amount_vnd",
    "balance_vnd",
    "bank_ref",
    "narrative",
    "payer_account",
    "tokens",
    "partial_tokens",
)


def statement_records(path: Path, preset: Preset) -> Iterator[tuple[Any, ...]]:
    """One tuple per transaction line (STATEMENT_COLUMNS order); the header is found by its marker."""
    idx: dict[str, int] | None = None
    seen_plain: dict[str, int] = {}
    cols = preset.columns
    for line_no, cells, raw in iter_rows(path, encoding=preset.encoding, delimiter=preset.delimiter):
        if idx is None:
            texts = [_cell_text(c) for c in cells]
            if preset.header_marker in texts:
                header = {t: i for i, t in enumerate(texts) if t}
                missing = [cols[k] for k in cols if cols[k] not in header]
                if missing:
                    raise Malformed(line_no, f"header lacks the columns {missing} of preset {preset.name}")
                idx = {k: header[name] for k, name in cols.items()}
            continue
        first = next((c for c in cells if c not in (None, "")), None)
        if first is None:
            continue  # blank line
        if isinstance(first, str) and preset.stop_markers and first.startswith(preset.stop_markers):
            break
        try:
            rec = _statement_record(cells, idx, preset, line_no, raw, seen_plain)
        except (ValueError, IndexError) as exc:
            raise Malformed(line_no, str(exc)) from exc
        yield rec
    if idx is None:
        raise Malformed(0, f"no header row with {preset.header_marker!r}: is this a {preset.name} statement?")


def _statement_record(
    cells: list[Cell], idx: dict[str, int], p: Preset, line_no: int, raw: str, seen_plain: dict[str, int]
) -> tuple[Any, ...]:
    n_cells = len(cells)

    def get(key: str) -> Cell:
        i = idx.get(key)
        return cells[i] if i is not None and i < n_cells else None

    booked = parse_when(get("date"), get("time"), p)
    debit = parse_amount(get("debit"), p.thousands, p.decimal)
    credit = parse_amount(get("credit"), p.thousands, p.decimal)
    if debit < 0 or credit < 0:
        raise ValueError("debit and credit are positive amounts in separate columns")
    if (debit > 0) == (credit > 0):
        raise ValueError("exactly one of debit and credit must be filled")
    balance_cell = get("balance")
    balance = parse_amount(balance_cell, p.thousands, p.decimal) if balance_cell not in (None, "") else None
    ref = _cell_text(get("bank_ref")) or None
    narrative = _cell_text(get("narrative"))
    payer = _cell_text(get("payer_account")) or None
    payer_name = _cell_text(get("payer_name"))
    search_text = f"{narrative} {payer_name}" if payer_name else narrative
    raw_hash = hashlib.sha256(raw.encode()).hexdigest()
    if ref:
        key = f"ref:{ref}"
    else:  # identical raw lines are distinct transactions: number their occurrences
        n = seen_plain.get(raw_hash, 0)
        seen_plain[raw_hash] = n + 1
        key = f"raw:{raw_hash}:{n}"
    toks = extract_tokens(search_text)
    return (
        key,
        line_no,
        raw,
        raw_hash,
        booked,
        booked.date(),  # booked is local (Asia/Ho_Chi_Minh) time: its date is the business day
        "credit" if credit else "debit",
        credit or debit,
        balance,
        ref,
        search_text,
        payer,
        list(toks.full),
        list(toks.partial),
    )


# ------------------------------------------------------------------ settlement report ("đối soát")

SETTLEMENT_HEADER = (
    "Mã đối soát",
    "Mã giao dịch",
    "Mã tham chiếu",
    "Loại giao dịch",
    "Thời gian giao dịch",
    "Trạng thái",
    "Số tiền giao dịch",
    "Phí dịch vụ",
    "Số tiền thực nhận",
    "Số tiền hoàn",
    "Ngày quyết toán",
)
KIND_VI = {"Thanh toán": "payment", "Hoàn tiền": "refund", "Chuyển tiền": "transfer"}
STATUS_VI = {"Thành công": "success", "Thất bại": "failed", "Đang xử lý": "pending"}
SETTLEMENT_COLUMNS = (
    "natural_key",
    "line_no",
    "raw",
    "raw_hash",
    "batch_id",
    "txn_id",
    "kind",
    "reference",
    "txn_at",
    "status",
    "gross_vnd",
    "fee_vnd",
    "net_vnd",
    "refund_vnd",
    "settlement_date",
)


@dataclass(frozen=True)
class Transfer:
    line_no: int
    batch_id: str
    settlement_date: date
    transfer_total_vnd: int
    transfer_at: datetime
    raw: str


def settlement_records(path: Path) -> Iterator[tuple[Any, ...] | Transfer]:
    """The intermediary's per-day settlement report: payment/refund lines, then the day's transfer line."""
    header: dict[str, int] | None = None
    seen: set[str] = set()
    for line_no, cells, raw in iter_rows(path):
        texts = [_cell_text(c) for c in cells]
        if header is None:
            if "Mã đối soát" in texts:
                header = {t: i for i, t in enumerate(texts)}
                missing = [h for h in SETTLEMENT_HEADER if h not in header]
                if missing:
                    raise Malformed(line_no, f"settlement header lacks {missing}")
            continue
        if not any(texts):
            continue
        try:
            rec = _settlement_row(cells, header, line_no, raw)
        except (ValueError, KeyError, IndexError) as exc:
            raise Malformed(line_no, str(exc)) from exc
        if isinstance(rec, tuple):
            if rec[0] in seen:
                raise Malformed(line_no, f"transaction {rec[5]} appears twice as {rec[6]}")
            seen.add(rec[0])
        yield rec
    if header is None:
        raise Malformed(0, "no settlement header row (Mã đối soát, Mã giao dịch, ...)")


def _settlement_row(cells: list[Cell], header: dict[str, int], line_no: int, raw: str) -> tuple[Any, ...] | Transfer:
    def g(name: str) -> Cell:
        i = header[name]
        return cells[i] if i < len(cells) else None

    def t(name: str) -> str:
        return _cell_text(g(name))

    kind_vi = t("Loại giao dịch")
    if kind_vi not in KIND_VI:
        raise ValueError(f"unknown transaction type {kind_vi!r}")
    kind = KIND_VI[kind_vi]
    when_cell = g("Thời gian giao dịch")
    if isinstance(when_cell, datetime):
        when = when_cell.replace(tzinfo=VN_TZ)
    else:
        when = datetime.strptime(t("Thời gian giao dịch"), "%d/%m/%Y %H:%M:%S").replace(tzinfo=VN_TZ)
    sd_cell = g("Ngày quyết toán")
    if isinstance(sd_cell, datetime):
        sday = sd_cell.date()
    else:
        sday = datetime.strptime(t("Ngày quyết toán"), "%d/%m/%Y").date()
    gross = parse_amount(g("Số tiền giao dịch"))
    fee = parse_amount(g("Phí dịch vụ"))
    net = parse_amount(g("Số tiền thực nhận"))
    refund = parse_amount(g("Số tiền hoàn"))
    batch = t("Mã đối soát")
    txn = t("Mã giao dịch")
    if not batch or not txn:
        raise ValueError("the settlement code and the transaction id are required")
    if kind == "transfer":
        return Transfer(line_no, batch, sday, net, when, raw)
    status = STATUS_VI.get(t("Trạng thái"))
    if status is None:
        raise ValueError(f"unknown status {t('Trạng thái')!r}")
    if min(gross, fee, refund) < 0:
        raise ValueError("amounts are positive")
    if kind == "payment" and status == "success" and gross - fee != net:
        raise ValueError(f"gross {gross} - fee {fee} != net {net}")
    return (
        f"{kind}:{txn}",
        line_no,
        raw,
        hashlib.sha256(raw.encode()).hexdigest(),
        batch,
        txn,
        kind,
        t("Mã tham chiếu") or None,
        when,
        status,
        gross,
        fee,
        net,
        refund,
        sday,
    )


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), VN_TZ)


def day_end(day: date) -> datetime:
    return day_start(day + timedelta(days=1))
