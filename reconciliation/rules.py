"""The reconciliation rules, pure: no I/O, no clock, no database.

This module is the specification. `reconciliation.matching` carries out the same rules set-based in
PostgreSQL (one statement per step); a test runs both on the same data and compares them.

1. Reference tokens. Our VietQR reference is ``PK`` + 8 Crockford base-32 characters (parking.payments.vietqr).
   Banks mangle the transfer content: they prepend their own codes ("MBVCB.4525077405.…"), drop or insert
   spaces and punctuation, upper-case it, glue the payer's name and account on, and truncate it. So the
   narrative is flattened to ``[A-Z0-9]`` and every ``PK`` position yields
   * a *full* token (``PK`` + 8 valid characters), and
   * a *partial* token (``PK`` + the first 6 characters) for a reference cut short by the bank.
   Lookalikes a human retyped are folded back (O→0, I/L→1) as Crockford decoding does.
2. Matching: a statement credit line matches an expected payment when a token names the expected
   reference (full first; partial only when no full token matched) AND the line's time is inside the window
   AND, for a clean match, the amount is equal. Each line goes to at most one expected payment, chosen by
   (amount equal first, full before partial, smallest key); each expected payment takes its lines in
   (amount equal first, time, key) order: the first is its match (``matched`` or ``amount_mismatch``), the
   others are ``duplicate``.
3. Fall-back: a credit line without any reference match is compared with the expected payments left
   unmatched on amount + a narrow time window + payer account (when the bank gives one). A candidate is
   only *suggested* (``review``), never matched silently.
4. Every tie is broken by keys, never by input order, so the result does not depend on it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from parking.payments.vietqr import CROCKFORD, REFERENCE_BODY_LEN, REFERENCE_PREFIX

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
PARTIAL_BODY_LEN = 6  # 30 bits: a truncated reference is still unique in practice, and amount + time must agree
_NON_ALNUM = re.compile(r"[^A-Z0-9]")
_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_CROCKFORD = frozenset(CROCKFORD)

# The stable discrepancy codes, in report order.
CLASS_CODES: tuple[str, ...] = (
    "missing_at_provider",
    "orphan_credit",
    "duplicate_credit",
    "amount_mismatch",
    "late_settlement",
    "refund_reversal",
    "status_mismatch",
    "transfer_late",
    "leakage",
)

# What finance staff should do about each class: (Vietnamese, English).
SUGGESTED_ACTION: dict[str, tuple[str, str]] = {
    "missing_at_provider": (
        "Đối chiếu với ngân hàng/trung gian; nếu không có tiền về, hủy xác nhận và ghi nợ phiên gửi xe",
        "Ask the bank/intermediary; if no money arrived, reverse the confirmation and record a debt",
    ),
    "orphan_credit": (
        "Tìm phiên gửi xe theo số tiền, thời gian, tài khoản người trả; gán tay hoặc hoàn tiền",
        "Find the session by amount, time and payer account; allocate by hand or refund",
    ),
    "duplicate_credit": (
        "Hoàn lại khoản chuyển trùng cho người trả",
        "Refund the duplicate transfer to the payer",
    ),
    "amount_mismatch": (
        "Thu thêm phần thiếu hoặc hoàn phần thừa; kiểm tra phí trừ tại nguồn",
        "Collect the shortfall or refund the excess; check for a fee deducted at source",
    ),
    "late_settlement": (
        "Chờ: khoản tiền về sau nửa đêm/ngày quyết toán sau, tự khớp khi có sao kê ngày sau",
        "Wait: credited after midnight / settled the next day; resolved when the next day is reconciled",
    ),
    "refund_reversal": (
        "Lập hóa đơn điều chỉnh cho khoản hoàn/đảo và ghi sổ hoàn tiền",
        "Issue an adjustment invoice for the refund/reversal and book the refund",
    ),
    "status_mismatch": (
        "Cập nhật trạng thái phiên theo tiền đã về (tự động) hoặc kiểm tra giao dịch thất bại",
        "Align the session with the money received (automatic) or check the failed transaction",
    ),
    "transfer_late": (
        "Yêu cầu trung gian thanh toán giải trình việc chuyển tiền quá 24 giờ",
        "Ask the intermediary why the transfer took more than 24 hours",
    ),
    "leakage": (
        "Kiểm tra bãi xe: xe qua làn không có phiên/không thanh toán (thu tiền mặt?)",
        "Inspect the lot: vehicles through the lanes without a paid session (cash taken?)",
    ),
}

Outcome = Literal["matched", "amount_mismatch", "duplicate", "review", "orphan"]


@dataclass(frozen=True, slots=True)
class Tokens:
    full: tuple[str, ...]
    partial: tuple[str, ...]


def flatten(narrative: str) -> str:
    return _NON_ALNUM.sub("", narrative.upper())


def extract_tokens(narrative: str) -> Tokens:
    """Reference-shaped tokens in a bank narrative, in order of appearance, without repeats."""
    flat = flatten(narrative)
    full: list[str] = []
    partial: list[str] = []
    start = flat.find(REFERENCE_PREFIX)
    while start != -1:
        body = flat[start + 2 : start + 2 + REFERENCE_BODY_LEN].translate(_ALIASES)
        valid = 0
        while valid < len(body) and body[valid] in _CROCKFORD:
            valid += 1
        if valid == REFERENCE_BODY_LEN:
            tok = REFERENCE_PREFIX + body
            if tok not in full:
                full.append(tok)
        if valid >= PARTIAL_BODY_LEN:
            ptok = REFERENCE_PREFIX + body[:PARTIAL_BODY_LEN]
            if ptok not in partial:
                partial.append(ptok)
        start = flat.find(REFERENCE_PREFIX, start + 1)
    return Tokens(tuple(full), tuple(partial))


def partial_of(reference: str) -> str:
    return reference[: len(REFERENCE_PREFIX) + PARTIAL_BODY_LEN]


@dataclass(frozen=True, slots=True)
class Expected:
    """Something we expect money for: a payment reference with its amount and when the QR was shown."""

    key: str
    reference: str
    amount_vnd: int
    at: datetime
    payer_account: str | None = None


@dataclass(frozen=True, slots=True)
class Line:
    """A credit line of a bank statement."""

    key: str
    amount_vnd: int
    at: datetime
    narrative: str
    payer_account: str | None = None


@dataclass(frozen=True, slots=True)
class Window:
    before: timedelta = timedelta(minutes=15)  # bank clocks run a little ahead of ours
    after: timedelta = timedelta(hours=48)  # a QR paid late, a credit booked the next day
    fallback: timedelta = timedelta(minutes=30)  # amount + time + payer: only a narrow window is a hint

    def contains(self, expected_at: datetime, line_at: datetime) -> bool:
        return expected_at - self.before <= line_at <= expected_at + self.after


@dataclass(frozen=True, slots=True)
class Decision:
    line_key: str
    outcome: Outcome
    expected_key: str | None = None
    tier: Literal["full", "partial", "fallback", "none"] = "none"


@dataclass(frozen=True, slots=True)
class MatchResult:
    decisions: dict[str, Decision]  # by line key, one per line
    unmatched_expected: tuple[str, ...]  # sorted keys
    extra: dict[str, str] = field(default_factory=dict)

    def primary(self) -> dict[str, str]:
        """expected key -> the line key that is its match (matched or amount_mismatch)."""
        return {
            d.expected_key: d.line_key
            for d in self.decisions.values()
            if d.expected_key is not None and d.outcome in ("matched", "amount_mismatch")
        }


def match(expected: Iterable[Expected], lines: Iterable[Line], window: Window | None = None) -> MatchResult:
    w = window or Window()
    exp = sorted(expected, key=lambda e: e.key)
    lns = sorted(lines, key=lambda ln: ln.key)
    by_ref: dict[str, list[Expected]] = {}
    by_partial: dict[str, list[Expected]] = {}
    for e in exp:
        by_ref.setdefault(e.reference, []).append(e)
        by_partial.setdefault(partial_of(e.reference), []).append(e)

    # 1. each line picks at most one expected payment
    chosen: dict[str, tuple[Expected, str]] = {}
    for ln in lns:
        toks = extract_tokens(ln.narrative)
        cands: list[tuple[int, int, str, Expected, str]] = []
        for t in toks.full:
            for e in by_ref.get(t, ()):
                if w.contains(e.at, ln.at):
                    cands.append((int(e.amount_vnd != ln.amount_vnd), 0, e.key, e, "full"))
        if not cands:
            for t in toks.partial:
                for e in by_partial.get(t, ()):
                    if w.contains(e.at, ln.at):
                        cands.append((int(e.amount_vnd != ln.amount_vnd), 1, e.key, e, "partial"))
        if cands:
            best = min(cands, key=lambda c: c[:3])
            chosen[ln.key] = (best[3], best[4])

    # 2. each expected payment takes its lines in (amount equal, time, key) order
    groups: dict[str, list[Line]] = {}
    line_by_key = {ln.key: ln for ln in lns}
    exp_by_key = {e.key: e for e in exp}
    for lk, (e, _tier) in chosen.items():
        groups.setdefault(e.key, []).append(line_by_key[lk])
    decisions: dict[str, Decision] = {}
    for ek, group in groups.items():
        e = exp_by_key[ek]
        group.sort(key=lambda ln: (int(ln.amount_vnd != e.amount_vnd), ln.at, ln.key))
        for i, ln in enumerate(group):
            tier = chosen[ln.key][1]
            if i == 0:
                outcome: Outcome = "matched" if ln.amount_vnd == e.amount_vnd else "amount_mismatch"
            else:
                outcome = "duplicate"
            decisions[ln.key] = Decision(ln.key, outcome, ek, tier)  # type: ignore[arg-type]
    matched_exp = set(groups)

    # 3. fall-back hints for the remaining lines: amount + narrow time + payer account, never a match
    left = [e for e in exp if e.key not in matched_exp]
    for ln in lns:
        if ln.key in decisions:
            continue
        hints = [
            e
            for e in left
            if e.amount_vnd == ln.amount_vnd
            and abs(ln.at - e.at) <= w.fallback
            and (e.payer_account is None or ln.payer_account is None or e.payer_account == ln.payer_account)
        ]
        if hints:
            best_hint = min(hints, key=lambda e: (abs(ln.at - e.at), e.key))
            decisions[ln.key] = Decision(ln.key, "review", best_hint.key, "fallback")
        else:
            decisions[ln.key] = Decision(ln.key, "orphan")
    return MatchResult(decisions, tuple(e.key for e in left))


def local_date(at: datetime) -> date:
    if at.tzinfo is None:
        raise ValueError("naive datetime: times are tz-aware")
    return at.astimezone(VN_TZ).date()


def is_late(expected_day: date, line_day: date) -> bool:
    """A credit booked on a later business day than the payment: carried over, not missing."""
    return line_day > expected_day


def transfer_late(settlement_day: date, transfer_at: datetime, limit: timedelta = timedelta(hours=24)) -> bool:
    """The intermediary must pay the operator within 24 h of the end of the settlement day (local time)."""
    day_end = datetime.combine(settlement_day + timedelta(days=1), datetime.min.time(), VN_TZ)
    return transfer_at > day_end + limit


def leakage(exits_counted: int, paid: int, debts: int, free: int, pending: int) -> int:
    """Vehicles that left through the lanes without being paid, owed or free: how cash shows up."""
    return max(exits_counted - (paid + debts + free + pending), 0)


def empty_counts() -> dict[str, int]:
    return dict.fromkeys(CLASS_CODES, 0)


def count_classes(codes: Sequence[str]) -> dict[str, int]:
    out = empty_counts()
    for c in codes:
        if c not in out:
            raise ValueError(f"unknown discrepancy class {c!r}")
        out[c] += 1
    return out
