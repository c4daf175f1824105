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
from gate_agent.reading.localize import BBox, iou
from gate_agent.reading.reader import CropRead, PipelineReader, choose_reads, grow_box

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


def test_reads_of_one_plate_vote_and_a_retry_does_not_override_a_direct_read() -> None:
    plate = (100, 100, 200, 150)
    near = (110, 105, 190, 140)
    also = (95, 98, 210, 160)
    # Two crops read the plate whole; a third drops a digit with a surer weakest character.
    found = [
        (_read("59E158112", 0.93, 0.992), plate, False),
        (_read("59E158112", 0.93, 0.990), near, False),
        (_read("59E5811", 0.90, 0.998), also, False),
    ]
    assert [r.norm for r, _ in choose_reads(found)] == ["59E158112"]
    # One direct read against one read of a retry's grown box: the direct read.
    found = [(_read("49E164481", 0.9, 0.994), plate, False), (_read("49E14481", 0.8, 0.999), also, True)]
    assert [r.norm for r, _ in choose_reads(found)] == ["49E164481"]
    # A retry's read alone is kept; far-apart plates are both kept, best first.
    found = [(_read("86A09470", 0.7, 0.99), plate, True), (_read("30K31232", 0.9, 0.995), (600, 600, 80, 60), False)]
    assert [r.norm for r, _ in choose_reads(found)] == ["30K31232", "86A09470"]


_TEXTS = ("51F22029", "51F2202", "29B112345", "30K31232")


@given(
    st.lists(
        st.tuples(
            st.sampled_from(_TEXTS),
            st.floats(0.0, 1.0),
            st.tuples(st.integers(0, 300), st.integers(0, 300), st.integers(4, 200), st.integers(4, 200)),
            st.booleans(),
        ),
        max_size=12,
    )
)
def test_chosen_reads_are_distinct_plates_best_first(items: list[tuple[str, float, BBox, bool]]) -> None:
    found = [(_read(t, raw, raw), box, retried) for t, raw, box, retried in items]
    kept = choose_reads(found)
    norms = [r.norm for r, _ in kept]
    assert len(set(norms)) == len(norms)
    assert all(iou(a, b) <= 0.3 for i, (_, a) in enumerate(kept) for _, b in kept[i + 1 :])
    assert all(r.raw >= reader_mod._MIN_CONFIDENCE for r, _ in kept)
    assert [r.raw for r, _ in kept] == sorted((r.raw for r, _ in kept), reverse=True)
    # Every plain read is either kept or overlaps / repeats a kept one.
    for r, box, _ in found:
        if r.raw >= reader_mod._MIN_CONFIDENCE:
            assert any(r.norm == k.norm or iou(box, kb) > 0.3 for k, kb in kept)


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
    assert [(r.norm, b, retried) for r, b, retried in found] == [
        ("51F22029", grow_box(box, reader_mod._GROW, (1500, 2000)), True)
    ]
    # Without a retry left, the weak read stands.
    assert [(r.norm, retried) for r, _, retried in stub._read_boxes(_frame(), [box], [0])] == [("51F2202", False)]


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


def test_val_scene_halves_share_no_plate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``training/val_scenes.py``: the two halves of the labelled validation scenes, disjoint by plate."""
    import csv
    import sys

    from gate_agent.reading.datasets import datasets_dir
    from training import val_scenes

    data = datasets_dir() / "vn-train"
    if not (data / "scenes.csv").exists():
        pytest.skip(f"vn-train not found at {data} (set PARKING_DATASETS_DIR)")
    halves: dict[str, list[dict[str, str]]] = {}
    for part in ("calib", "test"):
        out = tmp_path / f"{part}.csv"
        monkeypatch.setattr(sys, "argv", ["val_scenes", "--data", str(data), "--part", part, "--out", str(out)])
        val_scenes.main()
        with out.open(newline="", encoding="utf-8") as f:
            halves[part] = list(csv.DictReader(f))
    with (data / "scenes.csv").open(newline="", encoding="utf-8") as f:
        labelled = {r["file"] for r in csv.DictReader(f) if r["split"] == "val" and r["plate_norm"]}
    assert halves["calib"] and halves["test"]
    assert {r["plate_norm"] for r in halves["calib"]}.isdisjoint(r["plate_norm"] for r in halves["test"])
    assert {r["file"] for r in halves["calib"] + halves["test"]} == labelled
    assert all(r["plate_count"] == "1" for r in halves["test"])
