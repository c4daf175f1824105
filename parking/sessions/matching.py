"""Pure exit-plate matching against the plates of a lot's open sessions.

OCR at the exit may confuse look-alike characters or get one character wrong. We compare plates after
mapping every character to its confusable class, allow at most one remaining edit (substitution, insertion
or deletion), and return a match only when one candidate is strictly best: a tie is never guessed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# Classes of characters a plate reader confuses; each maps to its first member.
CONFUSABLE_CLASSES = ("0ODQ", "1I", "8B", "2Z", "5S", "6G")
_CANON = {ch: cls[0] for cls in CONFUSABLE_CLASSES for ch in cls}


def canonical(plate: str) -> str:
    return "".join(_CANON.get(c, c) for c in plate)


def _edit_distance_at_most_one(a: str, b: str) -> int | None:
    """0 or 1 if Levenshtein(a, b) <= 1, else None (linear time)."""
    if a == b:
        return 0
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return None
    if la == lb:
        return 1 if sum(x != y for x, y in zip(a, b, strict=True)) == 1 else None
    if la > lb:
        a, b, la, lb = b, a, lb, la
    i = 0
    while i < la and a[i] == b[i]:
        i += 1
    return 1 if a[i:] == b[i + 1 :] else None


@dataclass(frozen=True)
class Match:
    plate: str
    wrong: int  # characters wrong even after confusable mapping (0 or 1)
    confusions: int  # characters that differ only by confusable class

    @property
    def score(self) -> tuple[int, int]:
        return (self.wrong, self.confusions)


def compare(read: str, candidate: str) -> Match | None:
    if read == candidate:
        return Match(candidate, 0, 0)
    ca, cb = canonical(read), canonical(candidate)
    wrong = _edit_distance_at_most_one(ca, cb)
    if wrong is None:
        return None
    confusions = sum(x != y for x, y in zip(read, candidate, strict=False)) if len(read) == len(candidate) else 0
    if wrong == 1 and len(read) == len(candidate):
        confusions -= 1
    return Match(candidate, wrong, max(confusions, 0))


def best_match(read: str, candidates: Iterable[str]) -> Match | None:
    """The single best candidate within tolerance, or None when there is none or the best is tied."""
    best: Match | None = None
    tied = False
    for cand in candidates:
        m = compare(read, cand)
        if m is None:
            continue
        if best is None or m.score < best.score:
            best, tied = m, False
        elif m.score == best.score and m.plate != best.plate:
            tied = True
    return None if tied else best
