"""Each construct of the engine, on the shipped example tariff and on small fixture tariffs."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from parking.pricing import (
    Exemption,
    NaiveDatetime,
    Pass,
    PassNotApplicable,
    Quote,
    TariffBook,
    quote,
    split_inclusive,
)
from tests.factories.pricing import BASE_TARIFF, EXAMPLE, HANOI, METERED_RULE, at, book_from, shipped_book

BOOK = shipped_book()
ENTRY = at(2026, 11, 22, 8)  # example tariff: version 2 is in force


def q_ex(vehicle: str, exit: datetime, entry: datetime = ENTRY, pass_: Pass | Exemption | None = None) -> Quote:
    return quote(BOOK, tariff_id=EXAMPLE, zone="basement", vehicle_class=vehicle, entry=entry, exit=exit, pass_=pass_)


def constructs(q: Quote) -> list[str]:
    return [line.rule.split("/")[1] for line in q.lines]


def test_lines_add_up_and_vat_splits_the_total() -> None:
    q = q_ex("car_small", ENTRY + timedelta(hours=27, minutes=5))
    assert sum(line.amount_vnd for line in q.lines) == q.total_vnd
    assert q.net_vnd + q.vat_vnd == q.total_vnd
    assert q.vat_rate_bp == 800


# ── per-block prices (per 2 hours), grace, daily cap ──────────────────────────────────────────
@pytest.mark.parametrize(
    ("stay", "expected"),
    [
        (timedelta(minutes=15), 0),  # grace: 15 minutes or less is free
        (timedelta(minutes=15, seconds=1), 35000),  # past grace: charged from entry, one block
        (timedelta(hours=2), 35000),
        (timedelta(hours=2, seconds=1), 70000),  # a started block is a block
        (timedelta(hours=8), 140000),
        (timedelta(hours=10), 160000),  # 5 blocks = 175,000, capped at 160,000
        (timedelta(hours=24), 160000),
        (timedelta(hours=25), 195000),  # second 24 h period: one block
        (timedelta(days=3, hours=5), 3 * 160000 + 3 * 35000),  # multi-day
    ],
)
def test_car_blocks_grace_and_cap(stay: timedelta, expected: int) -> None:
    assert q_ex("car_small", ENTRY + stay).total_vnd == expected
    assert q_ex("car_large", ENTRY + stay).total_vnd == expected  # one rule prices both classes


def test_grace_and_cap_lines() -> None:
    free = q_ex("car_small", ENTRY + timedelta(minutes=10))
    assert constructs(free) == ["grace"] and free.lines[0].amount_vnd == 0
    capped = q_ex("car_small", ENTRY + timedelta(hours=10))
    assert constructs(capped) == ["step", "daily_cap"]
    assert capped.lines[0].units == 5 and capped.lines[0].unit == "2 hours"
    assert capped.lines[1].amount_vnd == 160000 - 175000


# ── hourly with half-hour rounding, minimum charge, cap ───────────────────────────────────────
@pytest.mark.parametrize(
    ("stay", "expected"),
    [
        (timedelta(minutes=10), 0),  # grace
        (timedelta(minutes=11), 5000),  # 0 units (< half an hour), minimum charge 5,000
        (timedelta(hours=1, minutes=29), 5000),  # 1 unit = 3,000, minimum 5,000
        (timedelta(hours=1, minutes=30), 6000),  # half an hour or more counts: 2 units
        (timedelta(hours=2, minutes=29), 6000),
        (timedelta(hours=10), 25000),  # 30,000 capped at 25,000
    ],
)
def test_motorbike_rounding_minimum_and_cap(stay: timedelta, expected: int) -> None:
    assert q_ex("motorbike", ENTRY + stay).total_vnd == expected


def test_minimum_charge_line() -> None:
    q = q_ex("motorbike", ENTRY + timedelta(hours=1))
    assert constructs(q) == ["step", "minimum_charge"]
    assert [line.amount_vnd for line in q.lines] == [3000, 2000]


# ── per-turn with "overnight = 2 turns" ───────────────────────────────────────────────────────
def test_overnight_priced_as_n_turns() -> None:
    day = q_ex("bicycle", at(2026, 11, 22, 17))
    assert day.total_vnd == 2000 and constructs(day) == ["day_turn"]
    overnight = q_ex("bicycle", at(2026, 11, 23, 7))
    assert overnight.total_vnd == 4000
    line = overnight.lines[0]
    assert (line.units, line.unit, line.unit_price_vnd) == (2, "turn", 2000)
    night_only = q_ex("bicycle", at(2026, 11, 23, 5), entry=at(2026, 11, 22, 20))
    assert night_only.total_vnd == 4000 and constructs(night_only) == ["night_turn"]


# ── multi-day per-turn ────────────────────────────────────────────────────────────────────────
def test_multi_day_per_turn_is_one_turn_per_24h() -> None:
    q = quote(
        BOOK,
        tariff_id=HANOI,
        zone="urban",
        vehicle_class="motorbike",
        entry=at(2026, 11, 22, 8),
        exit=at(2026, 11, 24, 10),
    )  # 2 full periods + 2 h of day
    assert q.total_vnd == 2 * 12000 + 5000
    assert [(ln.units, ln.unit_price_vnd) for ln in q.lines] == [(2, 12000), (1, 5000)]


def test_multi_day_metered_restarts_steps_each_24h() -> None:
    q = quote(
        BOOK,
        tariff_id=HANOI,
        zone="urban",
        vehicle_class="car_small",
        entry=at(2026, 11, 22, 8),
        exit=at(2026, 11, 23, 14),
    )  # 24 h + 6 h
    full_day = 2 * 25000 + 2 * 35000 + 20 * 45000
    assert q.total_vnd == full_day + 2 * 25000 + 2 * 35000 + 2 * 45000


# ── passes and exemptions ─────────────────────────────────────────────────────────────────────
NOVEMBER_DAY_PASS = Pass(valid_from=at(2026, 11, 1), valid_until=at(2026, 12, 1), band="day", reference="P-1")


def test_day_pass_covers_day_and_leaves_night_to_pay() -> None:
    inside = q_ex("bicycle", at(2026, 11, 22, 17), pass_=NOVEMBER_DAY_PASS)
    assert inside.total_vnd == 0 and constructs(inside) == ["pass"]
    evening = q_ex("bicycle", at(2026, 11, 22, 19), pass_=NOVEMBER_DAY_PASS)
    assert evening.total_vnd == 4000 and constructs(evening) == ["pass", "night_turn"]


def test_pass_outside_its_validity_does_not_cover() -> None:
    q = q_ex("bicycle", at(2026, 12, 2, 10), entry=at(2026, 12, 2, 8), pass_=NOVEMBER_DAY_PASS)
    assert q.total_vnd == 2000 and constructs(q) == ["day_turn"]


def test_pass_on_a_metered_rule_charges_only_uncovered_time() -> None:
    q = q_ex("car_small", at(2026, 11, 22, 20), entry=at(2026, 11, 22, 16), pass_=NOVEMBER_DAY_PASS)
    assert q.total_vnd == 35000  # 18:00-20:00 uncovered = one 2 h block


def test_pass_that_ends_mid_stay() -> None:
    holder = Pass(valid_from=at(2026, 11, 1), valid_until=at(2026, 11, 22, 12), band="all")
    q = quote(
        BOOK,
        tariff_id=HANOI,
        zone="urban",
        vehicle_class="motorbike",
        entry=at(2026, 11, 22, 8),
        exit=at(2026, 11, 22, 13),
        pass_=holder,
    )
    assert q.total_vnd == 5000  # 12:00-13:00 is a day turn


def test_pass_for_another_class_is_refused() -> None:
    other = Pass(valid_from=at(2026, 11, 1), valid_until=at(2026, 12, 1), vehicle_class="car_small")
    with pytest.raises(PassNotApplicable) as err:
        q_ex("bicycle", at(2026, 11, 22, 9), pass_=other)
    assert err.value.code == "pass_not_applicable"


def test_pass_with_naive_validity_is_refused() -> None:
    naive = Pass(valid_from=datetime(2026, 11, 1), valid_until=datetime(2026, 12, 1))
    with pytest.raises(NaiveDatetime):
        q_ex("bicycle", at(2026, 11, 22, 9), pass_=naive)


def test_exemption() -> None:
    q = q_ex("car_small", at(2026, 11, 22, 20), pass_=Exemption("ambulance on duty"))
    assert q.total_vnd == 0 and constructs(q) == ["exemption"]
    assert "ambulance" in q.lines[0].description


# ── rounding "down" and VAT-exclusive prices (fixture tariffs) ─────────────────────────────────
def fixture_book(tmp_path: Path, rule: str = METERED_RULE, header: str = BASE_TARIFF) -> TariffBook:
    return book_from(tmp_path, header + rule)


def test_rounding_down_counts_complete_units_only(tmp_path: Path) -> None:
    book = fixture_book(tmp_path, METERED_RULE.replace('rounding = "up"', 'rounding = "down"'))

    def fee(minutes: int) -> int:
        return quote(
            book,
            tariff_id="t",
            zone="z",
            vehicle_class="car_small",
            entry=ENTRY,
            exit=ENTRY + timedelta(minutes=minutes),
        ).total_vnd

    assert [fee(m) for m in (59, 60, 119, 120, 179, 180)] == [0, 10000, 10000, 20000, 20000, 40000]


def test_vat_exclusive_tariff_adds_vat(tmp_path: Path) -> None:
    book = fixture_book(tmp_path, header=BASE_TARIFF.replace("prices_include_vat = true", "prices_include_vat = false"))
    q = quote(book, tariff_id="t", zone="z", vehicle_class="car_small", entry=ENTRY, exit=ENTRY + timedelta(hours=1))
    assert (q.net_vnd, q.vat_vnd, q.total_vnd) == (10000, 800, 10800)
    assert sum(line.amount_vnd for line in q.lines) == q.net_vnd


@pytest.mark.parametrize(
    ("total", "rate_bp", "net", "vat"),
    [
        (12000, 800, 11111, 889),  # 11,111.11 -> 11,111
        (12000, 1000, 10909, 1091),  # 10,909.09 -> 10,909
        (5000, 800, 4630, 370),  # 4,629.63 -> 4,630
        (3, 10000, 2, 1),  # 1.5 -> 2: half rounds up
        (0, 800, 0, 0),
        (345000, 800, 319444, 25556),
    ],
)
def test_vat_split_half_up(total: int, rate_bp: int, net: int, vat: int) -> None:
    assert split_inclusive(total, rate_bp) == (net, vat)


def test_vat_rate_follows_the_exit_date() -> None:
    # 8 % until 31 Dec 2026, 10 % from 1 Jan 2027: the total stays, the split changes
    before = quote(
        BOOK,
        tariff_id=HANOI,
        zone="urban",
        vehicle_class="motorbike",
        entry=at(2026, 12, 31, 8),
        exit=at(2026, 12, 31, 10),
    )
    after = quote(
        BOOK,
        tariff_id=HANOI,
        zone="urban",
        vehicle_class="motorbike",
        entry=at(2027, 1, 1, 8),
        exit=at(2027, 1, 1, 10),
    )
    crossing = quote(
        BOOK,
        tariff_id=HANOI,
        zone="urban",
        vehicle_class="motorbike",
        entry=at(2026, 12, 31, 23),
        exit=at(2027, 1, 1, 1),
    )
    assert (before.total_vnd, before.vat_rate_bp, before.vat_vnd) == (5000, 800, 370)
    assert (after.total_vnd, after.vat_rate_bp, after.vat_vnd) == (5000, 1000, 455)
    assert crossing.vat_rate_bp == 1000


def test_to_dict_is_json_ready() -> None:
    import json

    q = q_ex("car_small", ENTRY + timedelta(hours=3))
    d = q.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert isinstance(d["total_vnd"], int) and d["total_vnd"] == 70000
    assert d["entry"] == "2026-11-22T08:00:00+07:00"
    lines = d["lines"]
    assert isinstance(lines, list)
    assert {"rule", "period_start", "period_end", "units", "unit_price_vnd", "amount_vnd"} <= set(lines[0])
