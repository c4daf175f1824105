"""Plate grammar: examples from the issue plus hypothesis properties."""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from vnplate import (
    CAR_TWO_LETTER_SERIES,
    PROVINCE_CODES,
    SERIES_LETTERS,
    Plate,
    correct,
    is_plausible,
    normalize,
    parse,
)

LETTERS = sorted(SERIES_LETTERS)
PROVINCES = sorted(PROVINCE_CODES)


def test_normalize_examples() -> None:
    assert normalize("29-MĐ1 052.00") == "29MD105200"
    assert normalize("30a-123.45") == "30A12345"
    assert normalize(" 59-x3\n123.45 ") == "59X312345"


def test_parse_examples_from_the_issue() -> None:
    assert parse("30A-123.45") == Plate("30", "A", "12345", "car", "30A12345", "30A-123.45")
    car4 = parse("51G-12345")
    assert car4 is not None and car4.canonical == "51G-123.45"
    moto = parse("29-B1 123.45")
    assert moto is not None and (moto.kind, moto.series, moto.number) == ("moto", "B1", "12345")
    assert parse("59-X3 123.45") is not None
    electric = parse("29-MĐ1 052.00")
    assert electric is not None
    assert (electric.series, electric.canonical, electric.kind) == ("MD1", "29-MD1 052.00", "moto")
    assert parse("30V-3993") == Plate("30", "V", "3993", "car", "30V3993", "30V-3993")
    assert parse("93LD-001.03") is not None
    moped = parse("15-AA 077.77")
    assert moped is not None and moped.kind == "moto" and moped.canonical == "15-AA 077.77"


def test_ambiguous_layout_follows_hint_then_separators() -> None:
    # Eight characters NN L NNNNN: a modern car plate or an old motorbike plate.
    car = parse("30A12345")
    assert car is not None and car.kind == "car"
    moto_hint = parse("30A12345", kind_hint="moto")
    assert moto_hint is not None and moto_hint.canonical == "30-A1 2345"
    moto_sep = parse("30-A1 2345")
    assert moto_sep is not None and moto_sep.kind == "moto"


def test_parse_rejects_non_plates() -> None:
    for text in ["", "HELLO", "13A-123.45", "30I-123.45", "30A-1234567", "AB-C1 123.45", "3OA12345"]:
        assert parse(text) is None, text
        assert not is_plausible(text)


def test_correct_examples() -> None:
    assert correct("29M0105200") == ("29MD105200", 0.6)
    assert correct("3OA-I23.45") is not None
    assert correct("3OA-I23.45")[0] == "30A12345"  # type: ignore[index]
    assert correct("S9-X3 12345") == ("59X312345", 0.6)
    assert correct("51G-12345") == ("51G12345", 0.0)
    assert correct("hello world") is None
    assert correct("") is None
    # B in a digit position is an 8; 8 in the series position is a B.
    assert correct("29-81 123.4B", kind_hint="moto") == ("29B112348", 1.2)


def test_correct_drops_one_stray_character() -> None:
    fixed = correct("51F-07X9.73")  # a smudge read as a letter inside the number
    assert fixed is not None
    assert fixed[0] == "51F07973"
    assert fixed[1] > 0


@st.composite
def plates(draw: st.DrawFn) -> Plate:
    province = draw(st.sampled_from(PROVINCES))
    number = draw(st.sampled_from([4, 5]).flatmap(lambda n: st.text("0123456789", min_size=n, max_size=n)))
    layout = draw(st.sampled_from(["car1", "car2", "moto_ld", "moto_md", "moto_ll"]))
    if layout == "car1":
        series = draw(st.sampled_from(LETTERS))
        text = f"{province}{series}-{number}"
    elif layout == "car2":
        series = draw(st.sampled_from(sorted(CAR_TWO_LETTER_SERIES)))
        text = f"{province}{series}-{number}"
    elif layout == "moto_ld":
        series = draw(st.sampled_from(LETTERS)) + draw(st.sampled_from("0123456789"))
        text = f"{province}-{series} {number}"
    elif layout == "moto_md":
        series = "MĐ" + draw(st.sampled_from("123456789"))
        text = f"{province}-{series} {number}"
    else:
        pair = draw(
            st.tuples(st.sampled_from(LETTERS), st.sampled_from(LETTERS))
            .map("".join)
            .filter(lambda s: s not in CAR_TWO_LETTER_SERIES)
        )
        text = f"{province}-{pair} {number}"
    kind = "car" if layout.startswith("car") else "moto"
    plate = parse(text, kind_hint=kind)
    assert plate is not None, text
    return plate


@given(st.text(max_size=30))
def test_normalize_is_idempotent_and_clean(text: str) -> None:
    n = normalize(text)
    assert normalize(n) == n
    assert all(c.isascii() and (c.isdigit() or c.isupper()) for c in n)


@given(plates())
def test_canonical_round_trips(plate: Plate) -> None:
    assert normalize(plate.canonical) == plate.norm
    again = parse(plate.canonical)
    assert again == plate
    assert is_plausible(plate.norm)
    assert parse(plate.norm, kind_hint=plate.kind) == plate


@given(plates())
def test_correct_leaves_valid_plates_alone(plate: Plate) -> None:
    assert correct(plate.canonical, kind_hint=plate.kind) == (plate.norm, 0.0)


_DIGIT_LOOKALIKE = {"0": "O", "1": "I", "8": "B", "2": "Z", "5": "S", "6": "G"}


@given(plates(), st.data())
def test_correct_undoes_one_letter_in_a_digit_position(plate: Plate, data: st.DataObject) -> None:
    start = 2 + len(plate.series)
    digit_positions = [i for i in range(start, len(plate.norm)) if plate.norm[i] in _DIGIT_LOOKALIKE]
    if not digit_positions:
        return
    i = data.draw(st.sampled_from(digit_positions))
    noisy = plate.norm[:i] + _DIGIT_LOOKALIKE[plate.norm[i]] + plate.norm[i + 1 :]
    # "11N60000" with G for 6 is "11NG0000", itself a valid plate (diplomatic series NG): nothing to fix.
    assume(not is_plausible(noisy))
    fixed = correct(noisy, kind_hint=plate.kind)
    assert fixed is not None
    assert fixed[0] == plate.norm
    assert fixed[1] > 0


@settings(max_examples=300)
@given(
    st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-. Đ", max_size=14),
    st.sampled_from([None, "car", "moto"]),
)
def test_correct_output_is_always_a_plate(raw: str, hint: str | None) -> None:
    out = correct(raw, kind_hint=hint)
    if out is None:
        return
    norm, penalty = out
    assert is_plausible(norm)
    assert penalty >= 0
    # A string that already is a plate costs nothing to correct.
    if is_plausible(raw) and hint is None:
        assert penalty == 0.0
