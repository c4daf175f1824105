"""What the bank and the intermediary deliver the next morning, for a day the simulator served:
the operator's bank statement ("sổ phụ", CSV or XLSX in a bank's layout) and the intermediary's
settlement report ("đối soát"), with faults injected on purpose.

Pure generation plus writers; it does not import `parking` (a fake must not share our parser's bugs).
Rows are generated lazily so a million-line file is written without holding it in memory.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

VN = timezone(timedelta(hours=7), "ICT")  # Hanoi, no DST

# Faults that change the files (the live-delivery faults, lost notification included, are in app.py).
FILE_FAULTS = (
    "missing_credit",  # we were told it was paid; the bank never credited it
    "duplicate_credit",  # the payer's bank sent it twice (double scan, retry)
    "underpaid",  # the payer typed a smaller amount
    "overpaid",  # ... or a larger one
    "x100",  # amount ×100 (gateway minor units taken as VND)
    "fee_at_source",  # the intermediary's fee already deducted from the credit
    "after_midnight",  # credited just after midnight: on the next day's statement
    "settled_next_day",  # the intermediary settles it on the next day
    "refund_reversal",  # the bank reversed the credit / the payer's refund shows as a debit
    "truncated_reference",  # the narrative is cut inside the reference
    "spaced_reference",  # the bank broke the reference with spaces
    "static_qr",  # (per day) a credit from the static QR: no reference at all
    "transfer_late",  # (per day) the intermediary pays the operator after more than 24 h
)

LAYOUTS = ("vietcombank", "techcombank", "generic")


@dataclass
class DayTxn:
    id: str  # the provider's transaction id
    channel: str  # bank (VietQR transfer straight to the operator's account) | gateway | charge
    reference: str | None
    amount_vnd: int
    at: datetime  # aware
    payer_name: str = "NGUYEN VAN A"
    payer_account: str = "0351000646393"
    refunded_vnd: int = 0  # refunds the operator asked for (not a fault)


@dataclass
class DayFaults:
    per_txn: dict[str, str] = field(default_factory=dict)  # txn id -> one of FILE_FAULTS
    static_qr: list[tuple[int, datetime]] = field(default_factory=list)  # (amount, time) credits without reference
    transfer_late: bool = False


@dataclass
class StatementRow:
    at: datetime
    bank_ref: str
    debit: int
    credit: int
    narrative: str
    payer_account: str
    payer_name: str
    balance: int = 0


@dataclass
class SettlementRow:
    batch: str
    txn_id: str
    reference: str
    kind: str  # Thanh toán | Hoàn tiền | Chuyển tiền
    at: datetime
    status: str
    gross: int
    fee: int
    net: int
    refund: int
    settlement_date: date


def fee_of(amount: int, fee_bp: int) -> int:
    return (amount * fee_bp + 5000) // 10000


def batch_id(provider: str, day: date) -> str:
    return f"DS{provider.upper()}{day:%Y%m%d}"


def mangle(reference: str, seq: int, payer: str, account: str, rng: random.Random, fault: str | None) -> str:
    """A narrative as banks write it: their own prefix, upper case, the payer glued on."""
    ref = reference
    if fault == "truncated_reference":
        ref = ref[: 2 + rng.choice((6, 7))]
        return f"MBVCB.{rng.randrange(10**9, 10**10)}.{seq}.{ref}"  # cut at the bank's length limit
    if fault == "spaced_reference":
        cut = rng.randrange(3, len(ref) - 1)
        ref = ref[:cut] + " " + ref[cut:]
    style = seq % 3
    if style == 0:
        return f"MBVCB.{rng.randrange(10**9, 10**10)}.{seq}.{ref} CT tu {account} {payer} toi1018795282"
    if style == 1:
        return f"{payer} chuyen tien {ref.lower()} FT{seq:08d}"
    return f"IBFT {ref}{account}{payer.replace(' ', '')}"


def statement_rows(
    day: date,
    txns: Iterable[DayTxn],
    faults: DayFaults,
    *,
    opening_balance: int = 50_000_000,
    seed: int = 0,
    extra: Iterable[StatementRow] = (),
) -> Iterator[StatementRow]:
    """The bank statement lines booked on `day` (local), in time order with a running balance.

    `txns` must be in time order. Bank-channel credits land on the statement; a credit faulted
    `after_midnight` is booked at 00:0x of the next day (so it is left out here: see `late_rows`);
    `extra` are other lines booked on this day (the intermediaries' transfers, yesterday's late credits).
    """
    rng = random.Random(seed)
    start = datetime.combine(day, time(0), VN)
    end = start + timedelta(days=1)
    balance = opening_balance
    seq = 0
    pending = [r for r in extra if start <= r.at.astimezone(VN) < end]
    for i, (amount, at) in enumerate(sorted(faults.static_qr, key=lambda x: x[1])):
        local = at.astimezone(VN)
        if start <= local < end:
            pending.append(
                StatementRow(
                    local,
                    f"SQ{local:%y%m%d%H%M%S%f}{i:03d}",  # the transfer's own reference, not its rank in a file
                    0,
                    amount,
                    "NGUYEN THI B chuyen tien gui xe",
                    "0912345678",
                    "NGUYEN THI B",
                )
            )
    pending.sort(key=lambda r: r.at)

    def flush_until(t: datetime | None) -> Iterator[StatementRow]:
        nonlocal balance
        while pending and (t is None or pending[0].at <= t):
            r = pending.pop(0)
            balance += r.credit - r.debit
            r.balance = balance
            yield r

    for t in txns:
        if t.channel != "bank":
            continue
        fault = faults.per_txn.get(t.id)
        if fault == "missing_credit":
            continue
        at = t.at.astimezone(VN) + timedelta(seconds=rng.randrange(1, 20))
        if fault == "after_midnight":
            continue  # booked on the next day's statement (see next_day_rows)
        if not start <= at < end:
            continue
        yield from flush_until(at)
        seq += 1
        amount = t.amount_vnd
        if fault == "underpaid":
            amount = max(amount - 2000, 1000)
        elif fault == "overpaid":
            amount += 5000
        elif fault == "x100":
            amount *= 100
        elif fault == "fee_at_source":
            amount -= fee_of(amount, 110)
        ref = t.reference or ""
        # The bank's reference belongs to the transaction, not to its position in one export: a statement
        # cut during the day and the full day's statement give the same transfer the same reference.
        key = "".join(ch for ch in t.id.upper() if ch.isalnum())
        text = mangle(ref, seq, t.payer_name, t.payer_account, rng, fault) if ref else f"{t.payer_name} chuyen tien"
        copies = 2 if fault == "duplicate_credit" else 1
        for c in range(copies):
            balance += amount
            yield StatementRow(
                at + timedelta(seconds=40 * c),
                f"FT{day:%y%m%d}{key}{c}",
                0,
                amount,
                text,
                t.payer_account,
                t.payer_name,
                balance,
            )
        if fault == "refund_reversal" or t.refunded_vnd:
            back = t.refunded_vnd or amount
            balance -= back
            yield StatementRow(
                at + timedelta(minutes=30),
                f"RV{day:%y%m%d}{key}",
                back,
                0,
                f"HOAN TRA GD {ref} TRA SOAT",
                t.payer_account,
                t.payer_name,
                balance,
            )
    yield from flush_until(None)


def transfer_row(batch: str, amount: int, at: datetime) -> StatementRow:
    """The intermediary's day transfer as the operator's bank books it (the batch id is in the narrative)."""
    return StatementRow(at, f"TF{batch}", 0, amount, f"CT CP 9PAY TT DOI SOAT {batch}", "1018795282", "CTCP 9PAY")


def late_rows(day: date, txns: Iterable[DayTxn], faults: DayFaults) -> list[StatementRow]:
    """Credits of `day` faulted `after_midnight`: they belong at the top of the next day's statement."""
    out = []
    nxt = datetime.combine(day + timedelta(days=1), time(0, 3), VN)
    for i, t in enumerate(txns):
        if t.channel == "bank" and faults.per_txn.get(t.id) == "after_midnight" and t.reference:
            out.append(
                StatementRow(
                    nxt + timedelta(seconds=i),
                    f"FT{nxt:%y%m%d}L{''.join(ch for ch in t.id.upper() if ch.isalnum())}",
                    0,
                    t.amount_vnd,
                    f"MBVCB.{i}.{t.reference} CT tu {t.payer_account}",
                    t.payer_account,
                    t.payer_name,
                )
            )
    return out


def settlement_rows(
    day: date, txns: Iterable[DayTxn], faults: DayFaults, *, provider: str = "sim", fee_bp: int = 110
) -> Iterator[SettlementRow]:
    """The intermediary's report for `day`: its gateway and charge transactions, refunds, and the transfer."""
    b = batch_id(provider, day)
    total = 0
    for t in txns:
        if t.channel == "bank":
            continue
        fault = faults.per_txn.get(t.id)
        if fault == "missing_credit":
            continue
        gross = t.amount_vnd * (100 if fault == "x100" else 1)
        if fault == "underpaid":
            gross = max(gross - 2000, 1000)
        elif fault == "overpaid":
            gross += 5000
        fee = fee_of(gross, fee_bp)
        sday = day + timedelta(days=1) if fault == "settled_next_day" else day
        at = t.at.astimezone(VN)
        yield SettlementRow(
            b, t.id, t.reference or "", "Thanh toán", at, "Thành công", gross, fee, gross - fee, 0, sday
        )
        if sday == day:
            total += gross - fee
        refund = t.refunded_vnd or (gross if fault == "refund_reversal" else 0)
        if refund:
            yield SettlementRow(
                b, t.id, t.reference or "", "Hoàn tiền", at + timedelta(minutes=45), "Thành công", 0, 0, 0, refund, day
            )
            total -= refund
        if fault == "duplicate_credit":  # the gateway settled the same payment twice, under a new id
            yield SettlementRow(
                b, t.id + "-R", t.reference or "", "Thanh toán", at + timedelta(seconds=30), "Thành công",
                gross, fee, gross - fee, 0, sday,
            )  # fmt: skip
            total += gross - fee
    yield SettlementRow(b, f"TR{b}", "", "Chuyển tiền", transfer_time(day, faults), "Thành công", 0, 0, total, 0, day)


def transfer_time(day: date, faults: DayFaults) -> datetime:
    base = datetime.combine(day + timedelta(days=1), time(10, 0), VN)
    return base + timedelta(hours=30) if faults.transfer_late else base


# ------------------------------------------------------------------ writers (bank layouts)

_HEADERS: dict[str, list[str]] = {
    "vietcombank": [
        "STT",
        "Ngày giao dịch",
        "Giờ giao dịch",
        "Số tham chiếu",
        "Số tiền ghi nợ",
        "Số tiền ghi có",
        "Số dư",
        "Mô tả",
    ],
    "techcombank": [
        "Ngày giao dịch",
        "Mã giao dịch",
        "Tài khoản đối ứng",
        "Tên đối ứng",
        "Diễn giải",
        "Nợ",
        "Có",
        "Số dư",
    ],
    "generic": ["Ngày", "Số tham chiếu", "Ghi nợ", "Ghi có", "Số dư", "Nội dung"],
}
_DELIM = {"vietcombank": ",", "techcombank": ";", "generic": ","}


def vnd(n: int) -> str:
    """1250000 -> '1.250.000' (Vietnamese thousands separator); 0 -> ''."""
    return f"{n:,}".replace(",", ".") if n else ""


def _cells(layout: str, i: int, r: StatementRow) -> list[Any]:
    loc = r.at.astimezone(VN)
    if layout == "vietcombank":
        return [
            i,
            f"{loc:%d/%m/%Y}",
            f"{loc:%H:%M:%S}",
            r.bank_ref,
            vnd(r.debit),
            vnd(r.credit),
            vnd(r.balance),
            r.narrative,
        ]
    if layout == "techcombank":
        return [
            f"{loc:%d/%m/%Y %H:%M:%S}",
            r.bank_ref,
            r.payer_account,
            r.payer_name,
            r.narrative,
            vnd(r.debit),
            vnd(r.credit),
            vnd(r.balance),
        ]
    return [f"{loc:%d/%m/%Y}", r.bank_ref, vnd(r.debit), vnd(r.credit), vnd(r.balance), r.narrative]


def _preamble(layout: str, day: date, account: str) -> list[list[Any]]:
    if layout == "generic":
        return []
    return [
        ["SAO KÊ TÀI KHOẢN" if layout == "vietcombank" else "SỔ PHỤ TÀI KHOẢN"],
        ["Số tài khoản", account],
        ["Từ ngày", f"{day:%d/%m/%Y}", "Đến ngày", f"{day:%d/%m/%Y}"],
        [],
    ]


def _footer(layout: str) -> list[list[Any]]:
    return {"vietcombank": [["Tổng cộng"]], "techcombank": [["Tổng"]]}.get(layout, [])


def write_statement(
    rows: Iterable[StatementRow], path: Path, *, layout: str, day: date, account: str = "0011001234567"
) -> int:
    """Write a statement in a bank's layout, CSV or XLSX by the file suffix; returns the line count."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}")
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    if path.suffix.lower() == ".xlsx":
        import openpyxl
        from openpyxl.styles import Font

        wb = openpyxl.Workbook(write_only=True)
        ws = wb.create_sheet("Sao ke")
        for line in _preamble(layout, day, account):
            ws.append(line)
        header = []
        for h in _HEADERS[layout]:
            cell = openpyxl.cell.WriteOnlyCell(ws, value=h)
            cell.font = Font(bold=True)
            header.append(cell)
        ws.append(header)
        for r in rows:
            n += 1
            ws.append(_cells(layout, n, r))
        for line in _footer(layout):
            ws.append(line)
        wb.save(path)
        return n
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh, delimiter=_DELIM[layout])
        w.writerows(_preamble(layout, day, account))
        w.writerow(_HEADERS[layout])
        for r in rows:
            n += 1
            w.writerow(_cells(layout, n, r))
        w.writerows(_footer(layout))
    return n


SETTLEMENT_HEADER = [
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
]


def write_settlement(rows: Iterable[SettlementRow], path: Path, *, provider: str, day: date) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["BÁO CÁO ĐỐI SOÁT", provider.upper(), f"Ngày {day:%d/%m/%Y}"])
        w.writerow(SETTLEMENT_HEADER)
        for r in rows:
            n += 1
            w.writerow(
                [
                    r.batch,
                    r.txn_id,
                    r.reference,
                    r.kind,
                    f"{r.at.astimezone(VN):%d/%m/%Y %H:%M:%S}",
                    r.status,
                    vnd(r.gross) or "0",
                    vnd(r.fee) or "0",
                    vnd(r.net) or "0",
                    vnd(r.refund) or "0",
                    f"{r.settlement_date:%d/%m/%Y}",
                ]
            )
    return n
