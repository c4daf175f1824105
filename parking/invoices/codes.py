"""Invoice symbols and cash-register tax-authority codes (MCCQT).

Facts (../shared/domain/README.md §3.2, §3.3): the template symbol KHMSHDon is one digit (1 = VAT
invoice); the invoice symbol KHHDon is six characters ``C`` + YY + ``M`` + two seller letters, printed
together as e.g. ``1C26MAA``. The 23-character MCCQT of a cash-register invoice is
``M{type}-{YY}-{5 chars issued by the tax authority}-{11-digit sequence from our software}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

VAT_INVOICE = 1  # KHMSHDon 1: "hóa đơn giá trị gia tăng"
MAX_SEQ = 10**11 - 1  # 11 digits
MCCQT_LEN = 23

_LETTERS = re.compile(r"^[A-Z]{2}$")
_SERIES = re.compile(r"^[A-Z0-9]{5}$")
_MCCQT = re.compile(r"^M([1-9])-(\d{2})-([A-Z0-9]{5})-(\d{11})$")
_SYMBOL = re.compile(r"^([1-9])(C)(\d{2})(M)([A-Z]{2})$")


class InvalidCode(ValueError):
    pass


def _yy(year: int) -> str:
    if not 2000 <= year <= 2099:
        raise InvalidCode(f"year {year} outside 2000-2099")
    return f"{year % 100:02d}"


def invoice_symbol(year: int, letters: str) -> str:
    """KHHDon, six characters: C (with tax-authority code), YY, M (cash register), two seller letters."""
    if not _LETTERS.match(letters):
        raise InvalidCode(f"symbol letters must be two upper-case letters, got {letters!r}")
    return f"C{_yy(year)}M{letters}"


def printed_symbol(template: int, year: int, letters: str) -> str:
    """Template digit + symbol as printed on the receipt, e.g. ``1C26MAA``."""
    if not 1 <= template <= 9:
        raise InvalidCode(f"template symbol must be 1-9, got {template}")
    return f"{template}{invoice_symbol(year, letters)}"


@dataclass(frozen=True)
class Mccqt:
    invoice_type: int
    year: int  # full year, 2000-2099
    series_code: str  # five characters issued by the tax authority
    seq: int  # 1 .. 99_999_999_999

    def __str__(self) -> str:
        return format_mccqt(self.invoice_type, self.year, self.series_code, self.seq)


def format_mccqt(invoice_type: int, year: int, series_code: str, seq: int) -> str:
    if not 1 <= invoice_type <= 9:
        raise InvalidCode(f"invoice type must be 1-9, got {invoice_type}")
    if not _SERIES.match(series_code):
        raise InvalidCode(f"series code must be 5 upper-case letters/digits, got {series_code!r}")
    if not 1 <= seq <= MAX_SEQ:
        raise InvalidCode(f"sequence {seq} outside 1..{MAX_SEQ}")
    return f"M{invoice_type}-{_yy(year)}-{series_code}-{seq:011d}"


def parse_mccqt(code: str) -> Mccqt:
    m = _MCCQT.match(code)
    if not m:
        raise InvalidCode(f"not a cash-register MCCQT: {code!r}")
    seq = int(m.group(4))
    if seq == 0:
        raise InvalidCode("sequence 0 is never issued")
    return Mccqt(int(m.group(1)), 2000 + int(m.group(2)), m.group(3), seq)


def is_mccqt(code: str) -> bool:
    try:
        parse_mccqt(code)
    except InvalidCode:
        return False
    return True


def parse_printed_symbol(symbol: str) -> tuple[int, int, str]:
    """``1C26MAA`` -> (template 1, year 2026, letters "AA")."""
    m = _SYMBOL.match(symbol)
    if not m:
        raise InvalidCode(f"not a cash-register invoice symbol: {symbol!r}")
    return int(m.group(1)), 2000 + int(m.group(3)), m.group(5)
