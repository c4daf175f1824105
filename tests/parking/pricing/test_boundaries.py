"""Exact behaviour at the band edges 05:59:59, 06:00:00, 17:59:59 and 18:00:00 Hanoi time.

Day is [06:00, 18:00) and a stay is [entry, exit): a stay ending at 18:00:00 is a day stay, one
starting at 18:00:00 is a night stay (see docs/pricing.md).
"""

from __future__ import annotations

from datetime import datetime

import pytest

from parking.pricing import quote
from tests.factories.pricing import HANOI, at, shipped_book

BOOK = shipped_book()
DAY, NIGHT, BOTH = 5000, 8000, 12000  # motorbike, urban


def fee(entry: datetime, exit: datetime) -> int:
    return quote(BOOK, tariff_id=HANOI, zone="urban", vehicle_class="motorbike", entry=entry, exit=exit).total_vnd


@pytest.mark.parametrize(
    ("entry", "exit", "expected"),
    [
        # morning edge
        ((5, 0, 0), (5, 59, 59), NIGHT),
        ((5, 0, 0), (6, 0, 0), NIGHT),  # ends exactly at 06:00:00: never touched day
        ((5, 0, 0), (6, 0, 1), BOTH),
        ((5, 59, 59), (6, 0, 0), NIGHT),
        ((5, 59, 59), (6, 0, 1), BOTH),
        ((6, 0, 0), (7, 0, 0), DAY),  # starts exactly at 06:00:00: day
        ((6, 0, 0), (6, 0, 0), DAY),  # zero-length stay takes the band of its instant
        ((5, 59, 59), (5, 59, 59), NIGHT),
        # evening edge
        ((17, 0, 0), (17, 59, 59), DAY),
        ((17, 0, 0), (18, 0, 0), DAY),  # ends exactly at 18:00:00: day only
        ((17, 0, 0), (18, 0, 1), BOTH),
        ((17, 59, 59), (18, 0, 0), DAY),
        ((17, 59, 59), (18, 0, 1), BOTH),
        ((18, 0, 0), (19, 0, 0), NIGHT),  # starts exactly at 18:00:00: night
        ((18, 0, 0), (18, 0, 0), NIGHT),
        ((17, 59, 59), (17, 59, 59), DAY),
        # a whole day band exactly
        ((6, 0, 0), (18, 0, 0), DAY),
    ],
)
def test_band_edges(entry: tuple[int, int, int], exit: tuple[int, int, int], expected: int) -> None:
    assert fee(at(2026, 11, 22, *entry), at(2026, 11, 22, *exit)) == expected


def test_night_band_exactly_is_night() -> None:
    assert fee(at(2026, 11, 22, 18), at(2026, 11, 23, 6)) == NIGHT
    assert fee(at(2026, 11, 22, 18), at(2026, 11, 23, 6, 0, 1)) == BOTH


def test_edges_hold_when_instants_are_written_in_utc() -> None:
    # 17:59:59+07:00 is 10:59:59Z; 18:00:00+07:00 is 11:00:00Z
    from datetime import UTC

    entry = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)
    assert fee(entry, datetime(2026, 11, 22, 11, 0, 0, tzinfo=UTC)) == DAY
    assert fee(entry, datetime(2026, 11, 22, 11, 0, 1, tzinfo=UTC)) == BOTH


def test_24_hour_periods_edge() -> None:
    entry = at(2026, 11, 22, 8)
    assert fee(entry, at(2026, 11, 23, 8)) == BOTH  # exactly one full 24 h period
    assert fee(entry, at(2026, 11, 23, 8, 0, 1)) == BOTH + DAY  # a second period starts
    assert fee(entry, at(2026, 11, 23, 18, 0, 1)) == BOTH + BOTH
