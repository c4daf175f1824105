"""Tariff and VAT files are validated on load; a bad file is refused with its name and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from parking.pricing import TariffFileError, load_tariff_book
from tests.factories.pricing import BASE_TARIFF, METERED_RULE, VAT_TOML, book_from, write_book

TURN_RULE = """
[[rules]]
id = "bikes"
kind = "per_turn"
zones = ["z"]
vehicle_classes = ["motorbike"]
source = "test"
day_vnd = 5000
night_vnd = 8000
day_and_night_vnd = 12000
"""


def refused(tmp_path: Path, text: str, vat: str = VAT_TOML) -> TariffFileError:
    with pytest.raises(TariffFileError) as err:
        book_from(tmp_path, text, vat=vat)
    assert err.value.code == "invalid_tariff_file"
    return err.value


def test_fixture_is_valid(tmp_path: Path) -> None:
    book = book_from(tmp_path, BASE_TARIFF + METERED_RULE + TURN_RULE)
    assert book.tariffs() == [("t", 1)]


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("{ from_unit = 3, price_vnd = 20000 }", "{ from_unit = 2, price_vnd = 20000 }", "steps overlap"),
        (
            "{ from_unit = 3, price_vnd = 20000 }",
            "{ from_unit = 5, price_vnd = 20000 }",
            "gap in steps: units 3–4 have no price",
        ),
        ("{ from_unit = 1, to_unit = 2,", "{ from_unit = 2, to_unit = 2,", "must start at unit 1"),
        (
            "{ from_unit = 3, price_vnd = 20000 }",
            "{ from_unit = 3, to_unit = 9, price_vnd = 20000 }",
            "last step must have no to_unit",
        ),
        ("price_vnd = 20000", "price_vnd = -20000", "negative"),
        ('vehicle_classes = ["car_small"]', 'vehicle_classes = ["truck"]', "unknown vehicle class 'truck'"),
        ('source = "test"\nunit', "unit", "'source' is missing"),
        ('zones = ["z"]', 'zones = ["y"]', "unknown zone 'y'"),
        ('rounding = "up"', 'rounding = "sideways"', "'rounding'"),
        ('rounding = "up"', 'roundng = "up"', "unknown key(s) ['roundng']"),
        ("unit_minutes = 60", "unit_minutes = 0", "'unit_minutes'"),
        ("unit_minutes = 60", "unit_minutes = 60\ndaily_cap_vnd = 1000\nminimum_vnd = 2000", "minimum_vnd"),
        ('source = "test"', 'source = "test"\ncertainty = "uncertain"', "'note' must say"),
        ("price_vnd = 20000", "price_vnd = 1.5", "whole number of VND"),
    ],
)
def test_bad_metered_rule(tmp_path: Path, old: str, new: str, problem: str) -> None:
    assert old in METERED_RULE
    err = refused(tmp_path, BASE_TARIFF + METERED_RULE.replace(old, new, 1))
    assert problem in err.message
    assert "t0.toml" in err.message
    assert "rule 'cars'" in err.message


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ('night = { from = "18:00"', 'night = { from = "18:30"', "gap between bands (evening): 18:00–18:30"),
        ('night = { from = "18:00"', 'night = { from = "17:30"', "bands overlap (evening): 17:30–18:00"),
        ('to = "06:00" }', 'to = "07:00" }', "bands overlap (morning): 06:00–07:00"),
        ('to = "06:00" }', 'to = "05:00" }', "gap between bands (morning): 05:00–06:00"),
        (
            'day = { from = "06:00", to = "18:00" }',
            'day = { from = "18:00", to = "06:00" }',
            "must start before it ends",
        ),
        ('"06:00", to = "18:00"', '"6am", to = "18:00"', "expected a local time"),
    ],
)
def test_bad_bands(tmp_path: Path, old: str, new: str, problem: str) -> None:
    assert old in BASE_TARIFF
    err = refused(tmp_path, BASE_TARIFF.replace(old, new, 1) + TURN_RULE)
    assert problem in err.message


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ("day_and_night_vnd = 12000", "day_and_night_vnd = 7000", "a longer stay would cost less"),
        ("day_and_night_vnd = 12000", "day_and_night_vnd = 12000\nday_and_night_turns = 2", "exactly one of"),
        ("night_vnd = 8000", "night_vnd = -1", "negative"),
    ],
)
def test_bad_turn_rule(tmp_path: Path, old: str, new: str, problem: str) -> None:
    err = refused(tmp_path, BASE_TARIFF + TURN_RULE.replace(old, new, 1))
    assert problem in err.message


def test_per_turn_rule_needs_bands(tmp_path: Path) -> None:
    no_bands = BASE_TARIFF.split("[bands]")[0] + '[zones.z]\ndescription = "test zone"\n'
    err = refused(tmp_path, no_bands + TURN_RULE)
    assert "[bands]" in err.message


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ('[source]\nkind = "declared"\ndeclared_by = "Test operator"\n', "", "missing [source]"),
        ('declared_by = "Test operator"', "", "'declared_by' is missing"),
        ('kind = "declared"', 'kind = "rumour"', "'kind' must be"),
        ("prices_include_vat = true", "", "prices_include_vat"),
        ("valid_from = 2020-01-01", 'valid_from = "soon"', "valid_from"),
        ('timezone = "Asia/Ho_Chi_Minh"', 'timezone = "Mars/Olympus"', "unknown timezone"),
        ('id = "t"', 'id = "Bad Id"', "'id' must be"),
    ],
)
def test_bad_header(tmp_path: Path, old: str, new: str, problem: str) -> None:
    assert old in BASE_TARIFF
    err = refused(tmp_path, BASE_TARIFF.replace(old, new, 1) + METERED_RULE)
    assert problem in err.message


def test_decision_source_needs_an_article(tmp_path: Path) -> None:
    header = BASE_TARIFF.replace(
        'kind = "declared"\ndeclared_by = "Test operator"',
        'kind = "decision"\nreference = "Decision 1/2020/QĐ-UBND"',
    )
    err = refused(tmp_path, header + METERED_RULE)
    assert "'article' is missing" in err.message


def test_two_rules_for_one_class_overlap(tmp_path: Path) -> None:
    err = refused(tmp_path, BASE_TARIFF + METERED_RULE + METERED_RULE.replace('id = "cars"', 'id = "more"'))
    assert "rules overlap: 'cars' and 'more' both price car_small in zone z" in err.message


def test_zone_without_rule(tmp_path: Path) -> None:
    err = refused(tmp_path, BASE_TARIFF + '[zones.empty]\ndescription = "nothing"\n' + METERED_RULE)
    assert "zone 'empty' has no rule" in err.message


def test_not_toml(tmp_path: Path) -> None:
    err = refused(tmp_path, "id = = 3")
    assert "not valid TOML" in err.message


def test_versions_must_not_overlap(tmp_path: Path) -> None:
    v1 = BASE_TARIFF.replace("valid_from = 2020-01-01", "valid_from = 2020-01-01\nvalid_until = 2024-12-31")
    v2 = BASE_TARIFF.replace("version = 1", "version = 2").replace("valid_from = 2020-01-01", "valid_from = 2024-06-01")
    with pytest.raises(TariffFileError) as err:
        book_from(tmp_path, v1 + METERED_RULE, v2 + METERED_RULE)
    assert "versions overlap" in err.value.message and "2024-06-01" in err.value.message


def test_version_numbers_are_unique(tmp_path: Path) -> None:
    v1 = BASE_TARIFF.replace("valid_from = 2020-01-01", "valid_from = 2020-01-01\nvalid_until = 2024-12-31")
    v1b = BASE_TARIFF.replace("valid_from = 2020-01-01", "valid_from = 2025-01-01")
    with pytest.raises(TariffFileError) as err:
        book_from(tmp_path, v1 + METERED_RULE, v1b + METERED_RULE)
    assert "version 1 is also defined" in err.value.message


def test_consecutive_versions_load(tmp_path: Path) -> None:
    v1 = BASE_TARIFF.replace("valid_from = 2020-01-01", "valid_from = 2020-01-01\nvalid_until = 2024-12-31")
    v2 = BASE_TARIFF.replace("version = 1", "version = 2").replace("valid_from = 2020-01-01", "valid_from = 2025-01-01")
    assert book_from(tmp_path, v1 + METERED_RULE, v2 + METERED_RULE).tariffs() == [("t", 1), ("t", 2)]


@pytest.mark.parametrize(
    ("vat", "problem"),
    [
        (VAT_TOML.replace("from = 2027-01-01", "from = 2027-02-01"), "gap in VAT rates"),
        (VAT_TOML.replace("from = 2027-01-01", "from = 2026-12-01"), "VAT rates overlap"),
        (VAT_TOML.replace("rate_bp = 800", "rate_bp = 8.0"), "rate_bp"),
        (VAT_TOML.replace('source = "test: 8 %"', ""), "'source' is missing"),
        ("", "at least one [[rate]]"),
    ],
)
def test_bad_vat_file(tmp_path: Path, vat: str, problem: str) -> None:
    err = refused(tmp_path, BASE_TARIFF + METERED_RULE, vat=vat)
    assert problem in err.message and "vat.toml" in err.message


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(TariffFileError) as err:
        load_tariff_book(tmp_path / "nope")
    assert "not found" in err.value.message


def test_default_vat_path_is_next_to_the_tariffs_dir(tmp_path: Path) -> None:
    tdir = write_book(tmp_path, BASE_TARIFF + METERED_RULE)
    assert load_tariff_book(tdir).tariffs() == [("t", 1)]
