"""Several versions of one tariff: the version in force on the local date of entry prices the stay."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from parking.pricing import NoTariffInForce, quote
from tests.factories.pricing import BASE_TARIFF, EXAMPLE, METERED_RULE, at, book_from, shipped_book

BOOK = shipped_book()


def car(entry_h: tuple[int, ...], hours: int) -> tuple[int, int]:
    entry = at(*entry_h)
    q = quote(
        BOOK,
        tariff_id=EXAMPLE,
        zone="basement",
        vehicle_class="car_small",
        entry=entry,
        exit=entry + timedelta(hours=hours),
    )
    return q.tariff_version, q.total_vnd


def test_version_chosen_by_date() -> None:
    assert car((2026, 6, 30, 8), 2) == (1, 30000)
    assert car((2026, 7, 1, 8), 2) == (2, 35000)


def test_stay_crossing_a_tariff_change_is_priced_by_the_version_at_entry() -> None:
    # enters on the last day of v1, leaves on the first day of v2: all at v1 prices
    assert car((2026, 6, 30, 22), 4) == (1, 2 * 30000)
    # local date decides: 2026-06-30T23:30+07:00 is 16:30Z the same day, still v1
    assert car((2026, 6, 30, 23, 30), 1) == (1, 30000)
    # 00:00 local on 1 July is v2 even though it is still 30 June in UTC
    assert car((2026, 7, 1, 0, 0), 1) == (2, 35000)


def test_multi_day_stay_across_the_change_keeps_entry_version_and_cap() -> None:
    version, total = car((2026, 6, 29, 8), 72)
    assert (version, total) == (1, 3 * 150000)


def test_no_version_in_force(tmp_path: Path) -> None:
    book = book_from(tmp_path, BASE_TARIFF + METERED_RULE)  # valid from 2020-01-01
    with pytest.raises(NoTariffInForce) as err:
        quote(
            book,
            tariff_id="t",
            zone="z",
            vehicle_class="car_small",
            entry=at(2019, 12, 31, 23),
            exit=at(2020, 1, 1, 1),
        )
    assert err.value.code == "no_tariff_in_force"
    assert "2019-12-31" in err.value.message


def test_book_lists_versions() -> None:
    assert (EXAMPLE, 1) in BOOK.tariffs() and (EXAMPLE, 2) in BOOK.tariffs()
    described = [d for d in BOOK.describe() if d["tariff_id"] == EXAMPLE]
    assert [(d["version"], d["valid_from"], d["valid_until"]) for d in described] == [
        (1, "2025-01-01", "2026-06-30"),
        (2, "2026-07-01", None),
    ]
