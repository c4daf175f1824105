"""Fuse the reads of several frames of one vehicle into one decision (pure: time is passed in).

A camera at a gate sees each vehicle for a second or two, i.e. 10-30 frames, some blurred or cut. The
fuser groups reads that belong to one vehicle (reads close in time whose texts are close), votes per
plate text weighted by confidence, and emits once per vehicle:

* ``FusedPlate(kind="plate")`` as soon as one text has enough weighted votes, or when the vehicle has
  been seen for ``window_s`` (a car waiting at the barrier must not wait for itself to leave), or when
  its group closes (no read for ``gap_s``), if its best text scores above ``accept``;
* ``FusedPlate(kind="attendant")`` when the group closes without a text good enough: the lane needs a
  person, and the best crop goes with the event;
* nothing for a plate already emitted within ``repeat_window_s`` (a vehicle waiting at the barrier).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from gate_agent.reading.types import PlateRead


@dataclass(frozen=True, slots=True)
class FusedPlate:
    kind: Literal["plate", "attendant"]
    text_norm: str | None  # the voted plate; for "attendant", the best guess if any
    canonical: str | None
    confidence: float  # share of the vote weight that went to text_norm, times its best confidence
    votes: int  # reads in the group
    plate_kind: str | None  # "car" | "moto" of the voted read
    crop_jpeg: bytes | None
    first_t: float
    last_t: float


def _distance(a: str, b: str) -> int:
    """Levenshtein distance; plate strings are under 12 characters, so the plain DP is enough."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


@dataclass
class _Group:
    first_t: float
    last_t: float
    weights: dict[str, float] = field(default_factory=dict)
    best: dict[str, PlateRead] = field(default_factory=dict)
    count: int = 0
    emitted: bool = False

    def add(self, read: PlateRead, t: float) -> None:
        self.last_t = t
        self.count += 1
        self.weights[read.text_norm] = self.weights.get(read.text_norm, 0.0) + read.confidence
        kept = self.best.get(read.text_norm)
        if kept is None or read.confidence > kept.confidence:
            self.best[read.text_norm] = read

    def leader(self) -> tuple[str, float, float]:
        """(text, its weight, share of total weight)."""
        text = max(self.weights, key=lambda k: (self.weights[k], self.best[k].confidence))
        total = sum(self.weights.values())
        return text, self.weights[text], (self.weights[text] / total if total else 0.0)

    def matches(self, read: PlateRead) -> bool:
        # Same vehicle if the text is within two edits of any text already in the group (OCR noise).
        return any(_distance(read.text_norm, k) <= 2 for k in self.weights)


class FrameFuser:
    """Per-lane fuser. Feed every read with its frame time; call ``flush`` regularly (e.g. per frame).

    ``add`` returns at most one result (the early decision for this vehicle); ``flush`` returns the
    results of the vehicles that left the camera's view.
    """

    def __init__(
        self,
        *,
        accept: float = 0.6,
        early_weight: float = 2.0,
        window_s: float = 2.0,
        gap_s: float = 1.5,
        repeat_window_s: float = 30.0,
    ) -> None:
        self.accept = accept  # least confidence of a fused plate; below -> attendant
        self.early_weight = early_weight  # weighted votes needed to decide before the vehicle leaves
        self.window_s = window_s  # decide (plate or attendant) at the latest this long after the first read
        self.gap_s = gap_s  # a group closes when it gets no read for this long
        self.repeat_window_s = repeat_window_s
        self._groups: list[_Group] = []
        self._recent: dict[str, float] = {}  # plate -> time it was last emitted or seen after emission

    def _result(self, g: _Group) -> FusedPlate:
        text, _, share = g.leader()
        read = g.best[text]
        confidence = round(share * read.confidence, 4)
        kind: Literal["plate", "attendant"] = "plate" if confidence >= self.accept else "attendant"
        return FusedPlate(
            kind, text, read.canonical, confidence, g.count, read.kind, read.crop_jpeg, g.first_t, g.last_t
        )

    def _suppressed(self, text: str, t: float) -> bool:
        seen = self._recent.get(text)
        return seen is not None and t - seen <= self.repeat_window_s

    def add(self, read: PlateRead, t: float) -> FusedPlate | None:
        group = next((g for g in self._groups if g.matches(read)), None)
        if group is None:
            group = _Group(first_t=t, last_t=t)
            self._groups.append(group)
        group.add(read, t)
        if group.emitted:
            self._recent[group.leader()[0]] = t  # the vehicle is still there: keep suppressing it
            return None
        _, weight, _ = group.leader()
        deadline = t - group.first_t >= self.window_s
        if weight >= self.early_weight or deadline:
            result = self._result(group)
            if result.kind == "plate" or deadline:
                return self._emit(group, result, t)
        return None

    def _emit(self, group: _Group, result: FusedPlate, t: float) -> FusedPlate | None:
        group.emitted = True
        if result.kind == "attendant" or result.text_norm is None:
            return result
        text = result.text_norm
        suppressed = self._suppressed(text, t)
        self._recent[text] = t
        return None if suppressed else result

    def flush(self, t: float) -> list[FusedPlate]:
        out: list[FusedPlate] = []
        keep: list[_Group] = []
        for g in self._groups:
            closed = t - g.last_t >= self.gap_s
            if not g.emitted and (closed or t - g.first_t >= self.window_s):
                result = self._emit(g, self._result(g), g.last_t)
                if result is not None:
                    out.append(result)
            if not closed:
                keep.append(g)
        self._groups = keep
        # Forget plates outside the repeat window so the map does not grow for ever.
        self._recent = {k: v for k, v in self._recent.items() if t - v <= self.repeat_window_s}
        return out
