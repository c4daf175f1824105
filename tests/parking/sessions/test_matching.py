"""Exit-plate matching is pure: property tests."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from parking.sessions.matching import best_match, canonical, compare

ALNUM = "ABCDEFGHKLMNPRSTUVXYZ0123456789"
plates = st.text(alphabet=ALNUM, min_size=7, max_size=9)
SWAPS = {
    "0": "O",
    "O": "0",
    "D": "0",
    "1": "I",
    "8": "B",
    "B": "8",
    "2": "Z",
    "Z": "2",
    "5": "S",
    "S": "5",
    "6": "G",
    "G": "6",
}


@given(plates)
def test_a_plate_matches_itself_exactly(p: str) -> None:
    m = compare(p, p)
    assert m is not None and m.score == (0, 0)


@given(plates, st.data())
def test_confusable_substitutions_are_tolerated_without_counting_as_wrong(p: str, data: st.DataObject) -> None:
    idx = [i for i, c in enumerate(p) if c in SWAPS]
    chosen = data.draw(st.sets(st.sampled_from(idx)) if idx else st.just(set()))
    read = "".join(SWAPS[c] if i in chosen else c for i, c in enumerate(p))
    m = compare(read, p)
    assert m is not None and m.wrong == 0


@given(plates, st.integers(min_value=0, max_value=8), st.sampled_from("AKMX379"))
def test_one_wrong_character_is_tolerated(p: str, i: int, c: str) -> None:
    i = i % len(p)
    read = p[:i] + c + p[i + 1 :]
    assert compare(read, p) is not None


@given(plates)
def test_two_wrong_characters_are_not(p: str) -> None:
    read = "".join("X" if canonical(ch) != "X" else "K" for ch in p[:2]) + p[2:]
    if canonical(read[0]) != canonical(p[0]) and canonical(read[1]) != canonical(p[1]):
        assert compare(read, p) is None


@given(st.lists(plates, min_size=0, max_size=20, unique=True), plates)
def test_best_match_is_unique_or_none(cands: list[str], read: str) -> None:
    m = best_match(read, cands)
    if m is not None:
        assert m.plate in cands
        better_or_equal = [c for c in cands if (x := compare(read, c)) is not None and x.score <= m.score]
        assert better_or_equal == [m.plate]


def test_ties_are_not_guessed() -> None:
    assert best_match("30A11114", ["30A11111", "30A11117"]) is None
    assert best_match("30A11114", ["30A11111", "51G00000"]).plate == "30A11111"  # type: ignore[union-attr]


def test_deletion_and_insertion_are_one_edit() -> None:
    assert compare("30A1234", "30A12345") is not None
    assert compare("30A123456", "30A12345") is not None
