"""Bad input gets an error with a stable code and a message naming the problem."""

from __future__ import annotations

from datetime import datetime

import pytest

from parking.pricing import (
    ExitBeforeEntry,
    InvalidDatetime,
    NaiveDatetime,
    PricingError,
    UnknownTariff,
    UnknownVehicleClass,
    UnknownZone,
    parse_instant,
    quote,
)
from tests.factories.pricing import HANOI, at, shipped_book

BOOK = shipped_book()


def test_exit_before_entry() -> None:
    with pytest.raises(ExitBeforeEntry) as err:
        quote(
            BOOK,
            tariff_id=HANOI,
            zone="urban",
            vehicle_class="motorbike",
            entry=at(2026, 11, 22, 10),
            exit=at(2026, 11, 22, 9, 59, 59),
        )
    assert err.value.code == "exit_before_entry"
    assert "before entry" in err.value.message


@pytest.mark.parametrize(
    ("kwargs", "error", "code", "named"),
    [
        ({"tariff_id": "hanoi-2099"}, UnknownTariff, "unknown_tariff", "hanoi-2099"),
        ({"zone": "moon"}, UnknownZone, "unknown_zone", "moon"),
        ({"vehicle_class": "tank"}, UnknownVehicleClass, "unknown_vehicle_class", "tank"),
    ],
)
def test_unknown_names(kwargs: dict[str, str], error: type[PricingError], code: str, named: str) -> None:
    args = {"tariff_id": HANOI, "zone": "urban", "vehicle_class": "motorbike"} | kwargs
    with pytest.raises(error) as err:
        quote(BOOK, entry=at(2026, 11, 22, 8), exit=at(2026, 11, 22, 9), **args)
    assert err.value.code == code
    assert named in err.value.message


@pytest.mark.parametrize("which", ["entry", "exit"])
def test_naive_datetime_is_an_error_not_a_guess(which: str) -> None:
    times = {"entry": at(2026, 11, 22, 8), "exit": at(2026, 11, 22, 9)}
    times[which] = times[which].replace(tzinfo=None)
    with pytest.raises(NaiveDatetime) as err:
        quote(BOOK, tariff_id=HANOI, zone="urban", vehicle_class="motorbike", **times)
    assert err.value.code == "naive_datetime"
    assert which in err.value.message


def test_parse_instant() -> None:
    assert parse_instant("2026-11-22T08:00:00+07:00") == at(2026, 11, 22, 8)
    assert parse_instant("2026-11-22T01:00:00Z") == at(2026, 11, 22, 8)
    with pytest.raises(NaiveDatetime):
        parse_instant("2026-11-22T08:00:00", "entry")
    with pytest.raises(InvalidDatetime) as err:
        parse_instant("yesterday at eight", "exit")
    assert err.value.code == "invalid_datetime" and "exit" in err.value.message


def test_all_errors_are_pricing_errors() -> None:
    with pytest.raises(PricingError):
        quote(
            BOOK,
            tariff_id=HANOI,
            zone="urban",
            vehicle_class="motorbike",
            entry=datetime(2026, 1, 1),
            exit=at(2026, 1, 1),
        )
