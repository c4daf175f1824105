"""Dated VAT rates and the split of a VAT-inclusive price, in integer VND and basis points."""

from __future__ import annotations

import itertools
import tomllib
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from parking.pricing.errors import NoVatRate, TariffFileError

_BP = 10_000  # basis points in 100 %


@dataclass(frozen=True, slots=True)
class VatRate:
    valid_from: date
    valid_until: date | None  # inclusive; None = open-ended
    rate_bp: int
    source: str
    certainty: str


@dataclass(frozen=True, slots=True)
class VatTable:
    rates: tuple[VatRate, ...]  # sorted, contiguous, non-overlapping (checked on load)

    def rate_on(self, day: date) -> VatRate:
        for r in self.rates:
            if r.valid_from <= day and (r.valid_until is None or day <= r.valid_until):
                return r
        raise NoVatRate(f"no VAT rate is configured for {day.isoformat()}", details={"date": day.isoformat()})


def split_inclusive(total_vnd: int, rate_bp: int) -> tuple[int, int]:
    """(net, vat) of a VAT-inclusive total: net = round_half_up(total / (1 + rate)), vat = total - net.

    Integer arithmetic only: net = floor((2·total·10000 + (10000 + bp)) / (2·(10000 + bp))).
    """
    denominator = _BP + rate_bp
    net = (2 * total_vnd * _BP + denominator) // (2 * denominator)
    return net, total_vnd - net


def vat_on_net(net_vnd: int, rate_bp: int) -> int:
    """VAT added to a VAT-exclusive price, rounded half up to the whole VND."""
    return (2 * net_vnd * rate_bp + _BP) // (2 * _BP)


def load_vat_table(path: Path) -> VatTable:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise TariffFileError(path, "VAT file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise TariffFileError(path, f"not valid TOML: {exc}") from None
    rows = data.get("rate")
    if not isinstance(rows, list) or not rows:
        raise TariffFileError(path, "expected at least one [[rate]] table")
    unknown_top = set(data) - {"rate"}
    if unknown_top:
        raise TariffFileError(path, f"unknown key(s) {sorted(unknown_top)}")
    rates: list[VatRate] = []
    for i, row in enumerate(rows, start=1):
        where = f"[[rate]] #{i}"
        if not isinstance(row, dict):
            raise TariffFileError(path, f"{where}: expected a table")
        extra = set(row) - {"from", "until", "rate_bp", "source", "certainty", "note"}
        if extra:
            raise TariffFileError(path, f"{where}: unknown key(s) {sorted(extra)}")
        start, until, bp = row.get("from"), row.get("until"), row.get("rate_bp")
        if not isinstance(start, date):
            raise TariffFileError(path, f"{where}: 'from' must be a date like 2025-07-01")
        if until is not None and not isinstance(until, date):
            raise TariffFileError(path, f"{where}: 'until' must be a date like 2026-12-31")
        if until is not None and until < start:
            raise TariffFileError(path, f"{where}: 'until' {until} is before 'from' {start}")
        if not isinstance(bp, int) or isinstance(bp, bool) or not 0 <= bp <= _BP:
            raise TariffFileError(path, f"{where}: 'rate_bp' must be a whole number from 0 to 10000 (800 = 8%)")
        source = row.get("source")
        if not isinstance(source, str) or not source.strip():
            raise TariffFileError(path, f"{where}: 'source' is missing (cite the law that sets this rate)")
        certainty = row.get("certainty", "confirmed")
        rates.append(VatRate(start, until, bp, source.strip(), str(certainty)))
    rates.sort(key=lambda r: r.valid_from)
    for prev, cur in itertools.pairwise(rates):
        if prev.valid_until is None or prev.valid_until >= cur.valid_from:
            raise TariffFileError(
                path, f"VAT rates overlap: the rate from {prev.valid_from} runs into {cur.valid_from}"
            )
        if prev.valid_until + timedelta(days=1) != cur.valid_from:
            raise TariffFileError(
                path,
                f"gap in VAT rates: no rate from {prev.valid_until + timedelta(days=1)} until {cur.valid_from}",
            )
    return VatTable(tuple(rates))
