"""VAT split of a VAT-inclusive total as the invoice shows it, in whole VND.

The arithmetic is the pricing engine's (``parking.pricing.vat.split_inclusive``: net =
round_half_up(total / (1 + rate)) on integers, vat = total - net), reused so a receipt can never
disagree with the quote. This module adds the sign handling adjustment invoices need and the
``TSuat`` label.
"""

from __future__ import annotations

from dataclasses import dataclass

from parking.pricing.vat import split_inclusive as _pricing_split


@dataclass(frozen=True)
class VatSplit:
    total_vnd: int
    net_vnd: int  # price before VAT
    vat_vnd: int
    rate_bp: int  # basis points, 800 = 8%

    @property
    def rate_label(self) -> str:
        """TSuat as written on invoices, e.g. ``8%`` or ``5.25%``."""
        whole, frac = divmod(self.rate_bp, 100)
        return f"{whole}%" if frac == 0 else (f"{whole}.{frac:02d}".rstrip("0") + "%")


def split_inclusive(total_vnd: int, rate_bp: int) -> VatSplit:
    """Split a VAT-inclusive total (negative on a decreasing adjustment) into net + VAT."""
    if isinstance(total_vnd, bool) or not isinstance(total_vnd, int):
        raise TypeError("total must be an int number of VND")
    if not 0 <= rate_bp <= 10_000:
        raise ValueError(f"VAT rate {rate_bp} bp out of range")
    # Split the magnitude and restore the sign, so refunding X is exactly the negation of charging X
    # (floor division on a negative total would round the other way).
    net, _ = _pricing_split(abs(total_vnd), rate_bp)
    net = -net if total_vnd < 0 else net
    return VatSplit(total_vnd=total_vnd, net_vnd=net, vat_vnd=total_vnd - net, rate_bp=rate_bp)
