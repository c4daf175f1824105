"""Frame search (issue 15, third pass): weak reads retried on a grown box, the classical search skipped once
the detector gave a sure read, and a squarish crop with one row found also read as two rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gate_agent.reading.reader as reader_mod
from gate_agent.reading.localize import BBox
from gate_agent.reading.reader import CropRead, PipelineReader, grow_box

from .conftest import needs_gate


@st.composite
def _box_in_frame(draw: st.DrawFn) -> tuple[BBox, tuple[int, int, int]]:
    fh = draw(st.integers(8, 2000))
    fw = draw(st.integers(8, 2000))
    x = draw(st.integers(0, fw - 4))
    y = draw(st.integers(0, fh - 4))
    w = draw(st.integers(4, fw - x))
    h = draw(st.integers(4, fh - y))
    return (x, y, w, h), (fh, fw, 3)


@given(_box_in_frame(), st.floats(0.0, 1.0))
def test_grown_box_contains_the_box_and_stays_in_the_frame(box_shape: tuple[BBox, Any], frac: float) -> None:
    box, shape = box_shape
    x, y, w, h = box
    gx, gy, gw, gh = grow_box(box, frac, shape)
    assert 0 <= gx <= x and 0 <= gy <= y
    assert x + w <= gx + gw <= shape[1] and y + h <= gy + gh <= shape[0]
    # It grows on every side that is not already at the frame's edge.
    assert gx < x or x == 0
    assert gx + gw > x + w or x + w == shape[1]


def _read(text: str, confidence: float, raw: float) -> CropRead:
    return CropRead(text, text, "car", confidence, 0.0, {}, raw)


class _StubEngine:
    name = "stub"


class _StubReader(PipelineReader):
    """The pipeline's frame search with crop reading replaced: a crop of exactly ``tight`` size reads
    weakly (a character cut off), anything larger reads the whole plate."""

    def __init__(self, tight: tuple[int, int], calibrated: bool = True) -> None:
        super().__init__(engine=_StubEngine(), calibrator=object() if calibrated else None)  # type: ignore[arg-type]
        self.tight = tight
        self.crops: list[tuple[int, int]] = []

    def read_crop(self, crop: np.ndarray, whole_image: bool = False) -> CropRead | None:
        if whole_image:
            return None
        self.crops.append(crop.shape[:2])
        if crop.shape[:2] == self.tight:
            return _read("51F2202", 0.3, 0.2)
        return _read("51F22029", 0.97, 0.99)


class _StubDetector:
    def __init__(self, boxes: list[BBox]) -> None:
        self._boxes = boxes

    def boxes(self, frame: np.ndarray) -> list[tuple[BBox, float]]:
        return [(b, 0.9) for b in self._boxes]


def _frame() -> np.ndarray:
    return np.full((1500, 2000, 3), 120, np.uint8)  # not crop-shaped: the frame search runs


def test_weak_read_is_retried_on_the_grown_box() -> None:
    stub = _StubReader(tight=(40, 100))
    box = (500, 400, 100, 40)
    found = stub._read_boxes(_frame(), [box], [1])
    assert [(r.norm, b) for r, b in found] == [("51F22029", grow_box(box, reader_mod._GROW, (1500, 2000)))]
    # Without a retry left, the weak read stands.
    assert [r.norm for r, _ in stub._read_boxes(_frame(), [box], [0])] == ["51F2202"]


def test_retries_are_budgeted_and_sure_reads_not_retried() -> None:
    stub = _StubReader(tight=(40, 100))
    budget = [1]
    stub._read_boxes(_frame(), [(10, 10, 100, 40), (900, 10, 100, 40), (10, 900, 120, 60)], budget)
    assert budget == [0]
    # Two weak boxes, one retry: 3 boxes + 1 retry crops; the sure read (120 x 60) is not retried.
    assert len(stub.crops) == 4


def test_classical_search_skipped_after_a_sure_detector_read(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def fake_propose(frame: np.ndarray, max_candidates: int = 6, ranker: Any = None) -> list[Any]:
        calls.append(1)
        return []

    monkeypatch.setattr(reader_mod, "propose", fake_propose)
    stub = _StubReader(tight=(0, 0))
    stub.detector = _StubDetector([(500, 400, 100, 40)])  # type: ignore[assignment]
    stub.skip_classical_at = 0.95
    frame = _frame()
    assert [p.text_norm for p in stub.read(frame)] == ["51F22029"]
    assert calls == []
    # Less sure than the bar: the classical candidates are searched too.
    stub.skip_classical_at = 0.99
    stub.read(frame)
    assert calls == [1]
    # Without a calibrator the bar is not on the confidence's scale: always search.
    uncal = _StubReader(tight=(0, 0), calibrated=False)
    uncal.detector = stub.detector
    uncal.skip_classical_at = 0.5
    uncal.read(frame)
    assert calls == [1, 1]


@needs_gate
def test_frames_this_pass_reads(reader: object, vn_frames: Path) -> None:
    """A square car plate whose top row is crossed by glare (only one row of characters found: read as two
    rows) and a small square plate whose candidate box is cut at the characters (read on the grown box)."""
    assert isinstance(reader, PipelineReader)
    for name, truth in (("vnf_0086.jpg", "30K31232"), ("vnf_0065.jpg", "86A09470")):
        img = cv2.imread(str(vn_frames / name))
        assert img is not None
        assert truth in [r.text_norm for r in reader.read(img)], name
