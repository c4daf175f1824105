"""Military and foreign-format (diplomatic NG, QT, NN, CV) plates in vnplate: examples and properties."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from vnplate import (
    FOREIGN_SERIES,
    MILITARY_UNIT_LETTERS,
    PROVINCE_CODES,
    SERIES_LETTERS,
    correct,
    display,
    is_plausible,
    normalize,
    parse,
    plate_category,
)

UNIT_FIRST = st.sampled_from(sorted(MILITARY_UNIT_LETTERS))
ANY_LETTER = st.sampled_from(string.ascii_uppercase)
DIGITS4 = st.text(alphabet="0123456789", min_size=4, max_size=4)
PROVINCE = st.sampled_from(sorted(PROVINCE_CODES))
COLOUR = st.sampled_from([None, "white", "yellow", "blue", "red"])


def test_military_examples() -> None:
    plate = parse("TM-27-01")
    assert plate is not None
    assert (plate.category, plate.series, plate.number, plate.canonical) == ("military", "TM", "2701", "TM-27-01")
    assert parse("BH 5262") == parse("bh-52-62")
    assert display("QA1234") == "QA-12-34"
    assert plate_category("KA-20-12") == "military"  # from the text alone, no colour needed


def test_foreign_examples() -> None:
    plate = parse("43-346-NG-02")
    assert plate is not None
    assert (plate.category, plate.province, plate.series, plate.number) == ("diplomatic", "43", "346NG", "02")
    assert plate.canonical == "43-346-NG-02"
    assert parse("80 011 QT 123") is not None and parse("80011QT123").category == "international_org"  # type: ignore[union-attr]
    assert parse("51-291-NN-12").category == "foreign_org"  # type: ignore[union-attr]
    assert parse("41-122-CV-05").category == "diplomatic"  # type: ignore[union-attr]
    # The older form is a two-letter car series, and still reported as diplomatic.
    old = parse("80NG-631.34")
    assert old is not None and old.kind == "car" and old.category == "diplomatic"


def test_civilian_plates_stay_civilian() -> None:
    assert parse("30A-123.45").category == "civilian"  # type: ignore[union-attr]
    assert parse("29-MĐ1 052.00").category == "civilian"  # type: ignore[union-attr]


def test_not_special_plates() -> None:
    assert parse("ZA-12-34") is None  # Z is no unit letter
    assert parse("TM-27-0") is None  # three digits
    assert parse("13-346-NG-02") is None  # 13 is no province
    assert parse("43-346-XY-02") is None  # not a foreign series
    assert parse("43-34-NG-02") is None  # two-digit country code


@given(UNIT_FIRST, ANY_LETTER, DIGITS4, st.sampled_from(["{u}-{a}-{b}", "{u} {a}{b}", "{u}{a}{b}", "{u}-{a}.{b}"]))
def test_any_military_plate_parses_and_round_trips(first: str, second: str, digits: str, fmt: str) -> None:
    unit = first + second
    text = fmt.format(u=unit, a=digits[:2], b=digits[2:])
    plate = parse(text)
    assert plate is not None, text
    assert plate.category == "military" and plate.series == unit and plate.number == digits
    assert plate.norm == normalize(text) and parse(plate.canonical) == plate
    assert is_plausible(plate.norm)
    assert correct(text) == (plate.norm, 0.0)


@given(UNIT_FIRST, ANY_LETTER, DIGITS4, COLOUR)
def test_military_format_is_military_whatever_the_colour(
    first: str, second: str, digits: str, colour: str | None
) -> None:
    assert plate_category(first + second + digits, colour) == "military"


@given(PROVINCE, st.text(alphabet="0123456789", min_size=3, max_size=3), st.sampled_from(sorted(FOREIGN_SERIES)),
       st.text(alphabet="0123456789", min_size=2, max_size=3), COLOUR)  # fmt: skip
def test_any_foreign_plate_parses_with_its_category(
    p: str, country: str, series: str, order: str, colour: str | None
) -> None:
    plate = parse(f"{p}-{country}-{series}-{order}")
    assert plate is not None
    assert plate.category == FOREIGN_SERIES[series]
    assert parse(plate.canonical) == plate and parse(plate.norm) == plate
    assert plate_category(plate.norm, colour) == FOREIGN_SERIES[series]
    assert correct(plate.canonical) == (plate.norm, 0.0)


@given(PROVINCE, st.sampled_from(sorted(SERIES_LETTERS)), st.text(alphabet="0123456789", min_size=4, max_size=5))
def test_a_civilian_plate_is_never_taken_for_a_special_one(p: str, letter: str, number: str) -> None:
    for text, kind in ((f"{p}{letter}{number}", "car"), (f"{p}{letter}1{number}", "moto")):
        plate = parse(text, kind_hint=kind)
        assert plate is not None and plate.category == "civilian" and plate.kind == kind
