"""Property tests of the pure engine over every shipped tariff, zone and vehicle class."""

from __future__ import annotations

import os
import time
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parking.pricing import Pass, Quote, TariffBook, quote
from parking.pricing.loader import build_book, parse_tariff
from parking.pricing.model import US_PER_DAY
from parking.pricing.vat import load_vat_table
from tests.factories.pricing import BASE_TARIFF, ICT, METERED_RULE, VAT_PATH, shipped_book

BOOK = shipped_book()
COMBOS = sorted(
    {
        (tid, zone, vc)
        for info in BOOK.describe()
        for tid in [str(info["tariff_id"])]
        for zone, body in info["zones"].items()
        for vc in body["vehicle_classes"]
    }
)
PER_TURN = [c for c in COMBOS if BOOK.versions[c[0]][-1].rule_for[(c[1], c[2])].kind == "per_turn"]
# Raise in a nightly run: PRICING_HYPOTHESIS_EXAMPLES=5000
SETTINGS = settings(deadline=None, max_examples=int(os.environ.get("PRICING_HYPOTHESIS_EXAMPLES", "300")))

combos = st.sampled_from(COMBOS)
# any instant 2025..2028 (the example tariff starts 2025-01-01 local), at microsecond precision
instants = st.integers(
    min_value=int(datetime(2025, 1, 1, 12, tzinfo=UTC).timestamp()) * 1_000_000,
    max_value=int(datetime(2028, 12, 31, tzinfo=UTC).timestamp()) * 1_000_000,
).map(lambda us: datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us))
# stays up to 5 days; biased to whole minutes so that unit and band edges are hit often
durations = st.one_of(
    st.integers(min_value=0, max_value=5 * 24 * 60).map(lambda m: timedelta(minutes=m)),
    st.integers(min_value=0, max_value=5 * 24 * 3600 * 1_000_000).map(lambda us: timedelta(microseconds=us)),
)
offsets = st.integers(min_value=-12 * 4, max_value=14 * 4).map(lambda q: timezone(timedelta(minutes=15 * q)))


def price(combo: tuple[str, str, str], entry: datetime, exit: datetime, pass_: Pass | None = None) -> Quote:
    tid, zone, vc = combo
    return quote(BOOK, tariff_id=tid, zone=zone, vehicle_class=vc, entry=entry, exit=exit, pass_=pass_)


@SETTINGS
@given(combos, instants, durations)
def test_never_negative_and_lines_add_up(combo: tuple[str, str, str], entry: datetime, stay: timedelta) -> None:
    q = price(combo, entry, entry + stay)
    assert q.total_vnd >= 0 and q.net_vnd >= 0 and q.vat_vnd >= 0
    assert q.net_vnd + q.vat_vnd == q.total_vnd
    assert sum(line.amount_vnd for line in q.lines) == q.total_vnd  # all shipped prices include VAT
    assert all(isinstance(v, int) for v in (q.total_vnd, q.net_vnd, q.vat_vnd))
    for line in q.lines:
        assert line.amount_vnd == line.units * line.unit_price_vnd
        assert line.period_start <= line.period_end


@SETTINGS
@given(combos, instants, durations, durations)
def test_never_decreases_when_exit_is_later(
    combo: tuple[str, str, str], entry: datetime, stay: timedelta, more: timedelta
) -> None:
    shorter = price(combo, entry, entry + stay)
    longer = price(combo, entry, entry + stay + more)
    assert longer.total_vnd >= shorter.total_vnd


@SETTINGS
@given(combos, instants, durations)
def test_respects_daily_caps(combo: tuple[str, str, str], entry: datetime, stay: timedelta) -> None:
    q = price(combo, entry, entry + stay)
    version = next(v for v in BOOK.versions[q.tariff_id] if v.version == q.tariff_version)
    rule = version.rule_for[(q.zone, q.vehicle_class)]
    periods = max(1, -(-(stay // timedelta(microseconds=1)) // US_PER_DAY))
    if rule.daily_cap_vnd is not None:
        assert q.total_vnd <= rule.daily_cap_vnd * periods
    if rule.kind == "per_turn":  # a 24 h period never costs more than the day-and-night price
        assert rule.day_and_night is not None
        assert q.total_vnd <= rule.day_and_night.amount_vnd * periods


@SETTINGS
@given(combos, instants, durations, offsets, offsets)
def test_same_instants_in_any_offset_give_the_same_quote(
    combo: tuple[str, str, str], entry: datetime, stay: timedelta, tz1: timezone, tz2: timezone
) -> None:
    exit = entry + stay
    a = price(combo, entry.astimezone(tz1), exit.astimezone(tz2))
    b = price(combo, entry, exit)
    assert a.to_dict() == b.to_dict()


@SETTINGS
@given(combos, instants, durations)
def test_deterministic(combo: tuple[str, str, str], entry: datetime, stay: timedelta) -> None:
    assert price(combo, entry, entry + stay) == price(combo, entry, entry + stay)


@SETTINGS
@given(combos, instants, durations, st.sampled_from(["day", "night", "all"]), durations, durations)
def test_a_pass_never_makes_a_stay_dearer(
    combo: tuple[str, str, str],
    entry: datetime,
    stay: timedelta,
    band: str,
    before: timedelta,
    length: timedelta,
) -> None:
    holder = Pass(valid_from=entry - before, valid_until=entry - before + length, band=band)
    without = price(combo, entry, entry + stay)
    with_pass = price(combo, entry, entry + stay, holder)
    assert 0 <= with_pass.total_vnd <= without.total_vnd


@SETTINGS
@given(st.sampled_from(PER_TURN), instants, st.integers(0, 12 * 3600 - 1), st.integers(0, 12 * 3600))
def test_stays_inside_one_band_pay_that_band(
    combo: tuple[str, str, str], day: datetime, start_s: int, length_s: int
) -> None:
    """Exact at the band edges: day is [06:00, 18:00), night [18:00, 06:00), stay is [entry, exit)."""
    local_midnight = day.astimezone(ICT).replace(hour=0, minute=0, second=0, microsecond=0)
    for band_start, band in ((6, "day"), (18, "night")):
        entry = local_midnight + timedelta(hours=band_start, seconds=start_s)
        exit = min(entry + timedelta(seconds=length_s), local_midnight + timedelta(hours=band_start + 12))
        version = next(v for v in BOOK.versions[combo[0]] if v.in_force_on(entry.date()))
        turn = getattr(version.rule_for[(combo[1], combo[2])], band)
        assert price(combo, entry, exit).total_vnd == turn.amount_vnd


# ── independence from the server's time zone ──────────────────────────────────────────────────
@pytest.fixture(params=["UTC", "America/Los_Angeles", "Pacific/Kiritimati", "Asia/Ho_Chi_Minh"])
def server_tz(request: pytest.FixtureRequest) -> Iterator[str]:
    old = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    try:
        yield request.param
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


REFERENCE_STAYS = [
    (datetime(2026, 11, 22, 10, 59, 59, tzinfo=UTC), timedelta(seconds=2)),  # across 18:00 Hanoi
    (datetime(2026, 11, 21, 22, 59, 59, tzinfo=UTC), timedelta(hours=30)),  # across 06:00, multi-day
    (datetime(2026, 12, 31, 16, 30, tzinfo=UTC), timedelta(hours=1)),  # across the VAT change (local)
    (datetime(2026, 6, 30, 16, 30, tzinfo=UTC), timedelta(hours=3)),  # across the example tariff change
]


def test_independent_of_server_time_zone(server_tz: str) -> None:
    time_dependent = [price(c, e, e + d).to_dict() for c in COMBOS for e, d in REFERENCE_STAYS]
    os.environ["TZ"] = "UTC"
    time.tzset()
    reference = [price(c, e, e + d).to_dict() for c in COMBOS for e, d in REFERENCE_STAYS]
    assert time_dependent == reference


# ── the same properties on fixture variants the shipped files do not use ─────────────────────────
def _variant_book() -> TariffBook:
    """One tariff per variant: rounding down / half_up / up, VAT-exclusive, grace, minimum, cap."""
    versions = []
    variants = [
        ("down", "true", ""),
        ("half_up", "false", "grace_minutes = 5\nminimum_vnd = 15000\ndaily_cap_vnd = 90000\n"),
        ("up", "false", "minimum_vnd = 30000\n"),
    ]
    for i, (rounding, include_vat, extra) in enumerate(variants):
        header = BASE_TARIFF.replace('id = "t"', f'id = "v{i}"').replace(
            "prices_include_vat = true", f"prices_include_vat = {include_vat}"
        )
        rule = METERED_RULE.replace('rounding = "up"', f'rounding = "{rounding}"\n{extra}')
        versions.append(parse_tariff(tomllib.loads(header + rule), Path(f"variant-{i}.toml")))
    return build_book(versions, load_vat_table(VAT_PATH))


VARIANTS = _variant_book()


@SETTINGS
@given(st.sampled_from(sorted(VARIANTS.versions)), instants, durations, durations)
def test_variants_never_negative_and_monotone(tid: str, entry: datetime, stay: timedelta, more: timedelta) -> None:
    def q(exit: datetime) -> Quote:
        return quote(VARIANTS, tariff_id=tid, zone="z", vehicle_class="car_small", entry=entry, exit=exit)

    shorter, longer = q(entry + stay), q(entry + stay + more)
    assert 0 <= shorter.total_vnd <= longer.total_vnd
    for r in (shorter, longer):
        assert r.net_vnd + r.vat_vnd == r.total_vnd
        assert sum(line.amount_vnd for line in r.lines) == (r.total_vnd if r.prices_include_vat else r.net_vnd)
    rule = VARIANTS.versions[tid][0].rule_for[("z", "car_small")]
    if rule.daily_cap_vnd is not None:
        periods = max(1, -(-(stay // timedelta(microseconds=1)) // US_PER_DAY))
        assert shorter.net_vnd <= rule.daily_cap_vnd * periods
