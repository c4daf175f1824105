"""Grammar-constrained CTC decoding of a plate line (pure numpy).

A CTC recogniser outputs, for each horizontal slice of a text line, a probability for every character
and for "blank". Greedy decoding (take the best character per slice) then fixing confusables by position
(``vnplate.correct``) throws away what the model knew: when it hesitates between ``B`` and ``8`` the
second choice is right there in the matrix. Here the line is decoded *under* each layout the plate
grammar allows (per position: a digit, a series letter, ...), by Viterbi over the CTC alignment, and the
layouts are compared by path probability. No library does constrained CTC decoding with per-position
character classes, hence this small module.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vnplate import PROVINCE_CODES, SERIES_LETTERS

# Output alphabet of the decoder; index 0 is the CTC blank.
ALPHABET = string.digits + string.ascii_uppercase
DIGITS = frozenset(string.digits)
LETTERS = frozenset(SERIES_LETTERS)
_NEG = -1e9
# Slices whose blank probability is above this carry no character; runs of them are collapsed to one
# slice so the Viterbi below runs over ~2 slices per character instead of the full width.
_BLANK_COLLAPSE = 0.995


class AlphabetMap:
    """Maps a recogniser's probabilities (T x (1 + len(charset)), blank first) onto blank + 0-9A-Z.

    Lower-case letters are added to their upper-case letter; punctuation, spaces and anything else go
    to blank (a dash or dot on a plate is best explained as "no character here"). The column indices
    are computed once per charset: the PaddleOCR alphabet has 6,623 characters.
    """

    def __init__(self, charset: Sequence[str]) -> None:
        index = {c: i + 1 for i, c in enumerate(ALPHABET)}
        src: list[int] = []
        dst: list[int] = []
        for j, ch in enumerate(charset, start=1):
            k = index.get(ch.upper()) if len(ch) == 1 else None
            if k is not None:
                src.append(j)
                dst.append(k)
        self._src = np.array(src, dtype=np.intp)
        self._dst = np.array(dst, dtype=np.intp)

    def __call__(self, probs: np.ndarray) -> np.ndarray:
        out = np.zeros((probs.shape[0], 1 + len(ALPHABET)), dtype=np.float64)
        picked = probs[:, self._src].astype(np.float64)
        for col in range(picked.shape[1]):
            out[:, self._dst[col]] += picked[:, col]
        out[:, 0] = np.clip(probs.sum(axis=1) - out[:, 1:].sum(axis=1), 0.0, None)
        out /= np.maximum(out.sum(axis=1, keepdims=True), 1e-12)
        return out


def to_plate_alphabet(probs: np.ndarray, charset: Sequence[str]) -> np.ndarray:
    """One-off form of ``AlphabetMap`` (see there)."""
    return AlphabetMap(charset)(probs)


def collapse_blanks(probs: np.ndarray) -> np.ndarray:
    keep: list[int] = []
    prev_blank = False
    for t in range(probs.shape[0]):
        is_blank = probs[t, 0] >= _BLANK_COLLAPSE
        if is_blank and prev_blank:
            continue
        keep.append(t)
        prev_blank = is_blank
    return probs[keep]


@dataclass(frozen=True, slots=True)
class Decoded:
    text: str
    logp: float  # log-probability of the best CTC path for this text
    char_probs: tuple[float, ...]  # per character: the peak probability of that character on its path

    @property
    def confidence(self) -> float:
        if not self.char_probs:
            return 0.0
        return float(min(self.char_probs))


def greedy(probs: np.ndarray) -> str:
    best = probs.argmax(axis=1)
    out: list[str] = []
    prev = 0
    for k in best:
        if k != 0 and k != prev:
            out.append(ALPHABET[k - 1])
        prev = int(k)
    return "".join(out)


def constrained(probs: np.ndarray, classes: Sequence[frozenset[str]]) -> Decoded | None:
    """Best CTC path whose label has exactly ``len(classes)`` characters, character i taken from classes[i].

    ``probs``: T x 37 over blank + ALPHABET (see ``to_plate_alphabet``). Viterbi over states
    (position i, character c) and (blank after position i); a character repeated in adjacent positions
    needs a blank between, as CTC requires.
    """
    n = len(classes)
    t_len = probs.shape[0]
    if n == 0 or t_len < n:
        return None
    logp = np.log(np.maximum(probs, 1e-12))
    k = len(ALPHABET)
    mask = np.full((n, k), _NEG)
    for i, cls in enumerate(classes):
        for ch in cls:
            mask[i, ALPHABET.index(ch)] = 0.0
    chars_logp = logp[:, 1:]  # T x K
    blank_logp = logp[:, 0]

    # s[i, c]: best score ending in character c at position i; b[i + 1]: blank after position i
    # (b[0] = leading blanks).
    s = np.full((n, k), _NEG)
    b = np.full(n + 1, _NEG)
    b[0] = blank_logp[0]
    s[0] = chars_logp[0] + mask[0]
    # Back-pointers: for s, 0 = stay, 1 = from blank before, 2 = from previous position (direct);
    # for direct moves the previous character is stored separately.
    bp_s = np.zeros((t_len, n, k), dtype=np.int8)
    bp_prev_c = np.zeros((t_len, n, k), dtype=np.int16)
    bp_b = np.zeros((t_len, n + 1), dtype=np.int8)  # 0 = stay, 1 = from character
    bp_b_c = np.zeros((t_len, n + 1), dtype=np.int16)
    ar = np.arange(k)
    for t in range(1, t_len):
        # Direct move from position i-1 to i needs a different character: use best and second best.
        prev = s[:-1]  # (n-1) x K
        best_c = prev.argmax(axis=1)
        best_v = prev[np.arange(n - 1), best_c]
        second = prev.copy()
        second[np.arange(n - 1), best_c] = _NEG
        second_c = second.argmax(axis=1)
        second_v = second[np.arange(n - 1), second_c]
        direct = np.full((n, k), _NEG)
        direct_c = np.zeros((n, k), dtype=np.int16)
        if n > 1:
            same = ar[None, :] == best_c[:, None]
            direct[1:] = np.where(same, second_v[:, None], best_v[:, None])
            direct_c[1:] = np.where(same, second_c[:, None], best_c[:, None])
        from_blank = np.broadcast_to(b[:-1, None], (n, k))
        stacked = np.stack([s, from_blank, direct])  # 3 x n x K
        choice = stacked.argmax(axis=0)
        new_s = stacked.max(axis=0) + chars_logp[t][None, :] + mask
        bp_s[t] = choice
        bp_prev_c[t] = direct_c
        # Blank after position i comes from itself or from the character at i.
        s_best_c = s.argmax(axis=1)
        s_best_v = s[np.arange(n), s_best_c]
        stay_b = b.copy()
        from_char = np.concatenate([[_NEG], s_best_v])
        new_b = np.maximum(stay_b, from_char) + blank_logp[t]
        bp_b[t] = (from_char > stay_b).astype(np.int8)
        bp_b_c[t, 1:] = s_best_c
        s, b = new_s, new_b

    end_char = int(s[n - 1].argmax())
    end_char_v = float(s[n - 1, end_char])
    end_blank_v = float(b[n])
    if max(end_char_v, end_blank_v) <= _NEG / 2:
        return None
    # Backtrack.
    labels = [-1] * n
    peak = [0.0] * n
    if end_char_v >= end_blank_v:
        state: tuple[str, int, int] = ("s", n - 1, end_char)
        total = end_char_v
    else:
        state = ("b", n, 0)
        total = end_blank_v
    for t in range(t_len - 1, -1, -1):
        kind, i, c = state
        if kind == "s":
            labels[i] = c
            # Probability of c among what this position allows (and blank): "6" is no rival for a
            # letter position, so "G" is not penalised for the model's doubt between G and 6.
            allowed = probs[t, 0] + float(np.sum(probs[t, 1:][mask[i] == 0.0]))
            peak[i] = max(peak[i], float(probs[t, c + 1]) / max(allowed, 1e-12))
            if t == 0:
                break
            move = bp_s[t, i, c]
            if move == 0:
                state = ("s", i, c)
            elif move == 1:
                state = ("b", i, 0)
            else:
                state = ("s", i - 1, int(bp_prev_c[t, i, c]))
        else:
            if t == 0:
                break
            if bp_b[t, i] == 1:
                state = ("s", i - 1, int(bp_b_c[t, i]))
            else:
                state = ("b", i, 0)
    if any(lab < 0 for lab in labels):
        return None
    text = "".join(ALPHABET[c] for c in labels)
    return Decoded(text, total, tuple(peak))


D = DIGITS
L = LETTERS
# First digit of a province code, then the second digit given the first is checked after decoding.
_PROVINCE_FIRST = frozenset(p[0] for p in PROVINCE_CODES)


@dataclass(frozen=True, slots=True)
class Layout:
    """A line layout: the character class of each position, and what it means for the plate."""

    name: str
    classes: tuple[frozenset[str], ...]
    # Log prior: rare layouts must win by a margin. Without it "59-L1" read as "59LI" became the moped
    # series "59-LT" (two letters) instead of "59-L1".
    prior: float = 0.0


def _layout(name: str, pattern: str, prior: float = 0.0) -> Layout:
    table = {"P": _PROVINCE_FIRST, "D": DIGITS, "L": LETTERS, "M": frozenset("M"), "d": frozenset("D")}
    return Layout(name, tuple(table[ch] for ch in pattern), prior)


# Layout priors: the log relative frequency (add-one) of each layout among the distinct plates of the
# vn-train *train* split (1,509 plates; the counts below), not tuned on any evaluation photo. Rare layouts
# must win by that margin: without it "59-L1" read as "59LI" became the moped series "59-LT".
# One-line car plates (480): L + 5 digits 440, L + 4: 32, LL + 5: 6, LL + 4: 2.
CAR_LINE = (
    _layout("car_L5", "PDLDDDDD"),
    _layout("car_L4", "PDLDDDD", -2.59),
    _layout("car_LL5", "PDLLDDDDD", -4.14),
    _layout("car_LL4", "PDLLDDDD", -4.99),
)
# Top line of a two-line plate (1,026): motorbike letter + digit 913, MĐ + digit 66, square car plate with
# one letter 28, two-letter moped series 13, square car plate with two letters 7.
TOP_LINE = (
    _layout("moto_LD", "PDLD"),
    _layout("moto_LL", "PDLL", -4.18),
    # Electric series MĐ + digit. The recogniser often reads this narrow "M" as "H" or "N"; as MĐ is the
    # only letter-Đ-digit series, any letter is accepted there and the reader writes "M".
    _layout("moto_MD", "PDLdD", -2.61),
    _layout("car_L", "PDL", -3.45),
    _layout("car_LL", "PDLL", -4.74),
)
# Bottom line (1,026): 5 digits 737, 4 digits 289 (the few 3- and 6-digit rows are label errors).
BOTTOM_LINE = (
    _layout("num5", "DDDDD"),
    _layout("num4", "DDDD", -0.93),
)
