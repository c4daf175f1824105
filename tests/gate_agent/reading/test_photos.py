"""The reader on images: rendered plates (always) and the shared photos (when present; they are in CI).

Floors guard against regressions; they sit a few points under the figures in docs/plate-reading.md.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gate_agent.reading.synth import random_plate, render_plate
from vnplate import normalize, parse

pytestmark = pytest.mark.gate


def test_render_plate_shapes() -> None:
    car = render_plate("30A-123.45", "car")
    moto = render_plate("29-MĐ1 052.00", "moto")
    assert car.ndim == 3 and car.shape[2] == 3 and car.shape[1] > 3 * car.shape[0]
    assert moto.shape[1] < 2 * moto.shape[0]
    assert car.dtype == np.uint8
    with pytest.raises(ValueError):
        render_plate("HELLO", "car")


def test_reader_reads_rendered_plates(reader: Any) -> None:
    rng = random.Random(7)
    cases = [(random_plate(rng, kind), kind) for kind in ("car", "moto") for _ in range(15)]
    good = 0
    for text, kind in cases:
        reads = reader.read(render_plate(text, kind))  # type: ignore[arg-type]
        if reads and reads[0].text_norm == normalize(text):
            good += 1
            assert reads[0].kind == kind
            assert reads[0].canonical == parse(text, kind_hint=kind).canonical  # type: ignore[union-attr]
    rate = good / len(cases)
    print(f"rendered plates read exactly: {good}/{len(cases)} = {rate:.0%}")
    assert rate >= 0.8


def test_reader_on_a_rendered_plate_in_a_scene(reader: Any) -> None:
    """Localisation: a plate pasted into a bigger, noisy frame is found and read."""
    rng = np.random.default_rng(3)
    frame = rng.integers(40, 120, size=(480, 640, 3), dtype=np.uint8)
    plate = render_plate("51G-123.45", "car", size=(200, 44))
    frame[300:344, 220:420] = plate
    reads = reader.read(frame)
    assert "51G12345" in [r.text_norm for r in reads]
    hit = next(r for r in reads if r.text_norm == "51G12345")
    assert hit.bbox is not None and hit.crop_jpeg and hit.crop_jpeg[:2] == b"\xff\xd8"
    x, y, w, h = hit.bbox
    # The box is around the characters (padded), so inside the plate give or take the padding.
    assert 220 - 20 <= x and x + w <= 420 + 20 and w >= 0.6 * 200
    assert 300 - 15 <= y and y + h <= 344 + 15


def test_blank_frame_reads_nothing(reader: Any) -> None:
    assert reader.read(np.full((300, 400, 3), 200, dtype=np.uint8)) == []


def _rows(folder: Path) -> list[dict[str, str]]:
    with (folder / "labels.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_accuracy_on_shared_plate_crops(reader: Any, vn_plates: Path) -> None:
    import cv2

    rows = _rows(vn_plates)
    good = 0
    by_kind: dict[str, list[int]] = {}
    for row in rows:
        reads = reader.read(cv2.imread(str(vn_plates / row["file"])))
        ok = bool(reads) and reads[0].text_norm == row["plate_norm"]
        good += ok
        by_kind.setdefault(row["plate_kind"], []).append(ok)
    rate = good / len(rows)
    print(f"vn-plates exact match {good}/{len(rows)} = {rate:.1%}",
          {k: f"{sum(v)}/{len(v)}" for k, v in by_kind.items()})  # fmt: skip
    assert rate >= 0.94
    assert sum(by_kind["moto_2line"]) / len(by_kind["moto_2line"]) >= 0.93
    assert sum(by_kind["car_1line"]) / len(by_kind["car_1line"]) >= 0.96


def test_plate_recall_on_shared_frames(reader: Any, vn_frames: Path) -> None:
    import cv2

    rows = _rows(vn_frames)
    total = found = 0
    for row in rows:
        texts = {r.text_norm for r in reader.read(cv2.imread(str(vn_frames / row["file"])))}
        truths = [t for t in row["plate_norm"].split(";") if t]
        total += len(truths)
        found += sum(t in texts for t in truths)
    print(f"vn-frames plate recall {found}/{total} = {found / total:.1%}")
    assert found / total >= 0.65


def test_odd_inputs_do_not_crash(reader: Any) -> None:
    rng = np.random.default_rng(0)
    frames = [
        np.zeros((1, 1, 3), np.uint8),
        np.zeros((5, 500, 3), np.uint8),
        rng.integers(0, 255, (120, 90), dtype=np.uint8),  # grey
        rng.integers(0, 255, (200, 300, 4), dtype=np.uint8),  # BGRA
        rng.integers(0, 255, (480, 640, 3), dtype=np.uint8),  # noise
    ]
    for frame in frames:
        reads = reader.read(frame)
        assert isinstance(reads, list)
        for r in reads:  # whatever is read from noise must still be a valid plate
            assert parse(r.text_norm, kind_hint=r.kind) is not None
