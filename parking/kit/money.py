"""The one formatter of money: integer VND, grouped by thousands (Vietnamese: dots; English: commas).

Pure: no I/O. Money is an ``int`` (never float); anything else is refused, so a float cannot slip into a
receipt.
"""

from __future__ import annotations


def _check(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"money is integer VND, got {type(amount).__name__}")


def group_thousands(amount: int, sep: str = ".") -> str:
    """``1234567`` → ``1.234.567`` (``sep`` between groups of three digits; a minus sign kept)."""
    _check(amount)
    return f"{amount:,}".replace(",", sep)


def vnd(amount: int, *, symbol: str = "đ") -> str:
    """Vietnamese display: ``85.000 đ`` (receipts may use the symbol ``₫``)."""
    return f"{group_thousands(amount, '.')} {symbol}"


def vnd_en(amount: int) -> str:
    """English display: ``85,000 VND``."""
    return f"{group_thousands(amount, ',')} VND"
