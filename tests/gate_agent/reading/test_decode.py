"""Grammar-constrained CTC decoding on hand-made probability matrices (pure numpy)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gate_agent.reading.decode import ALPHABET, BOTTOM_LINE, CAR_LINE, collapse_blanks, constrained, greedy


def matrix(frames: list[dict[str, float]]) -> np.ndarray:
    """T x 37 probabilities; each frame gives char -> prob, the rest goes to blank."""
    m = np.zeros((len(frames), 1 + len(ALPHABET)))
    for t, f in enumerate(frames):
        for ch, p in f.items():
            m[t, 1 + ALPHABET.index(ch)] = p
        m[t, 0] = max(0.0, 1.0 - sum(f.values()))
    return m


def spell(text: str) -> list[dict[str, float]]:
    frames: list[dict[str, float]] = [{}]
    for ch in text:
        frames += [{ch: 0.97}, {ch: 0.9}, {}]
    return frames


def test_clean_line_decodes_to_itself() -> None:
    m = matrix(spell("30A12345"))
    assert greedy(m) == "30A12345"
    dec = constrained(collapse_blanks(m), CAR_LINE[0].classes)
    assert dec is not None and dec.text == "30A12345"
    assert dec.confidence > 0.8


def test_letter_in_digit_position_takes_the_best_digit() -> None:
    frames = spell("30A12345")
    frames[1 + 3 * 7] = {"B": 0.7, "8": 0.25}  # last digit: model prefers B, 8 is second
    frames[2 + 3 * 7] = {"B": 0.6, "8": 0.3}
    dec = constrained(matrix(frames), CAR_LINE[0].classes)
    assert dec is not None and dec.text == "30A12348"


def test_repeated_characters_need_a_blank_between() -> None:
    dec = constrained(matrix(spell("77777")), BOTTOM_LINE[0].classes)
    assert dec is not None and dec.text == "77777"


def test_too_few_frames_gives_none() -> None:
    assert constrained(matrix([{"1": 0.9}]), BOTTOM_LINE[0].classes) is None


@settings(max_examples=50, deadline=None)
@given(st.text("0123456789", min_size=5, max_size=5), st.floats(min_value=0.5, max_value=0.99))
def test_number_line_round_trips(digits: str, p: float) -> None:
    frames: list[dict[str, float]] = [{}]
    for ch in digits:
        other = "1" if ch != "1" else "7"
        frames += [{ch: p, other: (1 - p) / 2}, {}]
    dec = constrained(matrix(frames), BOTTOM_LINE[0].classes)
    assert dec is not None and dec.text == digits
    assert 0.0 <= dec.confidence <= 1.0
