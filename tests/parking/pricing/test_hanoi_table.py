"""Table tests from the rows of Decision 44/2017/QĐ-UBND (and the car example, marked uncertain)."""

from __future__ import annotations

from datetime import datetime

import pytest

from parking.pricing import Pass, quote
from tests.factories.pricing import HANOI, ICT, at, shipped_book

BOOK = shipped_book()


# (vehicle, day, night, day and night) per turn, urban districts and scenic/historic sites
ROWS = [("bicycle", 3000, 5000, 7000), ("motorbike", 5000, 8000, 12000)]


@pytest.mark.parametrize(("vehicle", "day", "night", "both"), ROWS)
def test_per_turn_rows(vehicle: str, day: int, night: int, both: int) -> None:
    def fee(entry: datetime, exit: datetime) -> int:
        return quote(BOOK, tariff_id=HANOI, zone="urban", vehicle_class=vehicle, entry=entry, exit=exit).total_vnd

    assert fee(at(2026, 11, 22, 8), at(2026, 11, 22, 17, 30)) == day
    assert fee(at(2026, 11, 22, 19), at(2026, 11, 22, 23)) == night
    assert fee(at(2026, 11, 22, 22), at(2026, 11, 23, 5, 59)) == night  # across midnight, still night
    assert fee(at(2026, 11, 22, 17), at(2026, 11, 22, 19)) == both  # day then night
    assert fee(at(2026, 11, 22, 5), at(2026, 11, 22, 7)) == both  # night then day
    assert fee(at(2026, 11, 22, 8), at(2026, 11, 23, 7, 59)) == both  # just under 24 h


@pytest.mark.parametrize(("vehicle", "monthly"), [("bicycle", 70000), ("motorbike", 120000)])
def test_monthly_pass_rows(vehicle: str, monthly: int) -> None:
    version = BOOK.version_in_force(HANOI, at(2026, 11, 22).date())
    assert version is not None
    rule = version.rule_for[("urban", vehicle)]
    assert [(p.name, p.band, p.price_vnd) for p in rule.passes] == [("monthly", "all", monthly)]
    holder = Pass(valid_from=at(2026, 11, 1), valid_until=at(2026, 12, 1), band="all")
    q = quote(
        BOOK,
        tariff_id=HANOI,
        zone="urban",
        vehicle_class=vehicle,
        entry=at(2026, 11, 22, 8),
        exit=at(2026, 11, 23, 9),
        pass_=holder,
    )
    assert q.total_vnd == 0
    assert [line.rule.split("/")[1] for line in q.lines] == ["pass"]


# Car ≤ 9 seats, Tuoi Tre example: hours 1-2 at 25,000, 3-4 at 35,000, from 5 at 45,000; started hour = hour
CAR_HOURS = [(1, 25000), (2, 50000), (3, 85000), (4, 120000), (5, 165000), (8, 300000), (9, 345000)]


@pytest.mark.parametrize(("hours", "expected"), CAR_HOURS)
def test_car_small_progressive_steps(hours: int, expected: int) -> None:
    entry = at(2026, 11, 22, 8)
    q = quote(
        BOOK,
        tariff_id=HANOI,
        zone="urban",
        vehicle_class="car_small",
        entry=entry,
        exit=at(2026, 11, 22, 8 + hours),
    )
    assert q.total_vnd == expected
    assert q.certainty == "uncertain" and q.notes  # the data says it is not confirmed
    # a started hour is a full hour
    q2 = quote(
        BOOK,
        tariff_id=HANOI,
        zone="urban",
        vehicle_class="car_small",
        entry=entry,
        exit=at(2026, 11, 22, 8 + hours - 1, 0, 1),
    )
    assert q2.total_vnd == expected


def test_car_lines_explain_the_steps() -> None:
    q = quote(
        BOOK,
        tariff_id=HANOI,
        zone="urban",
        vehicle_class="car_small",
        entry=at(2026, 11, 22, 8),
        exit=at(2026, 11, 22, 17),
    )
    assert [(ln.units, ln.unit_price_vnd, ln.amount_vnd) for ln in q.lines] == [
        (2, 25000, 50000),
        (2, 35000, 70000),
        (5, 45000, 225000),
    ]
    assert [ln.period_start.astimezone(ICT).hour for ln in q.lines] == [8, 10, 12]
    assert q.lines[-1].period_end == at(2026, 11, 22, 17)


def test_car_large_is_a_marked_placeholder() -> None:
    q = quote(
        BOOK,
        tariff_id=HANOI,
        zone="urban",
        vehicle_class="car_large",
        entry=at(2026, 11, 22, 8),
        exit=at(2026, 11, 22, 10),
    )
    assert q.total_vnd == 50000
    assert q.certainty == "uncertain"
    assert "not found" in q.notes[0]


def test_every_shipped_zone_and_class_has_a_quote() -> None:
    seen = 0
    for info in BOOK.describe():
        tariff_id, valid_from = str(info["tariff_id"]), str(info["valid_from"])
        zones = info["zones"]
        assert isinstance(zones, dict)
        for zone, body in zones.items():
            for vehicle in body["vehicle_classes"]:
                y, m, d = (int(p) for p in valid_from.split("-"))
                q = quote(
                    BOOK,
                    tariff_id=tariff_id,
                    zone=zone,
                    vehicle_class=vehicle,
                    entry=at(y, m, d, 9),
                    exit=at(y, m, d, 11),
                )
                assert q.total_vnd > 0 and q.tariff_id == tariff_id
                assert q.legal_source
                seen += 1
    assert seen >= 4 + 4 + 4  # hanoi: 4 classes; example v1 and v2: 4 classes each


def test_quote_carries_id_version_and_legal_source() -> None:
    q = quote(
        BOOK,
        tariff_id=HANOI,
        zone="urban",
        vehicle_class="motorbike",
        entry=at(2026, 11, 22, 8),
        exit=at(2026, 11, 22, 9),
    )
    assert (q.tariff_id, q.tariff_version) == (HANOI, 1)
    assert "44/2017/QĐ-UBND" in q.legal_source
    assert "Xe máy" in q.rule_source  # the row of the decision that priced it
