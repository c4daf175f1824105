"""Our trained plate models (ONNX, shipped in gate_agent/reading/models/): inputs, rendered plates, and
held-out real photos (vn-train validation plates; skipped only when the shared folder is absent)."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gate_agent.reading import MODELS_DIR, make_reader
from gate_agent.reading.datasets import datasets_dir
from gate_agent.reading.eval import holdout_part, main
from gate_agent.reading.lineprep import LINE_H, LINE_W, prepare_line
from gate_agent.reading.synth import random_plate, render_plate


@pytest.fixture(scope="module")
def trained() -> object:
    return make_reader("vnlpr", threads=1)


@pytest.fixture(scope="module")
def vn_train() -> Path:
    path = datasets_dir() / "vn-train"
    if not (path / "crops.csv").exists():
        pytest.skip(f"vn-train not found at {path} (set PARKING_DATASETS_DIR)")
    return path


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 400), st.integers(2, 900), st.integers(0, 255), st.integers(0, 255))
def test_prepared_line_is_fixed_size_and_bounded(h: int, w: int, a: int, b: int) -> None:
    img = np.full((h, w), a, np.uint8)
    img[: h // 2] = b
    x = prepare_line(img)
    assert x.shape == (LINE_H, LINE_W) and x.dtype == np.float32
    assert float(x.min()) >= -1.0 and float(x.max()) <= 1.0


def test_models_ship_and_are_small() -> None:
    for name in ("lines.onnx", "vnlpr.calib.json", "operating_point.json"):
        assert (MODELS_DIR / name).is_file(), name
    assert (MODELS_DIR / "lines.onnx").stat().st_size < 8_000_000
    op = json.loads((MODELS_DIR / "operating_point.json").read_text())["vnlpr"]
    assert 0.0 < op["operating_threshold"] <= op["charge_threshold"]


def test_trained_reader_reads_rendered_plates(trained: object) -> None:
    rng = random.Random(11)
    n = ok = 0
    for kind in ("car", "moto"):
        for _ in range(15):
            text = random_plate(rng, kind)  # type: ignore[arg-type]
            reads = trained.read(render_plate(text, kind))  # type: ignore[attr-defined,arg-type]
            n += 1
            ok += bool(reads) and reads[0].canonical == text
    assert ok >= 0.8 * n, f"{ok}/{n}"


def test_reads_carry_structure_features_and_category(trained: object) -> None:
    # A yellow background is a commercial plate (vnplate.plate_category).
    reads = trained.read(render_plate("30A-123.45", "car", background=(250, 205, 20)))  # type: ignore[attr-defined]
    assert reads and reads[0].features is not None and "len_margin" in reads[0].features
    assert reads[0].category == "commercial"


def test_held_out_crops(vn_train: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A sample of the *test* half of the validation plates: no plate seen in training or calibration."""
    with (vn_train / "crops.csv").open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == "val" and holdout_part(r["plate_norm"]) == "test"]
    rows = random.Random(5).sample(rows, min(120, len(rows)))
    labels = tmp_path / "labels.csv"
    with labels.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    code = main(["--labels", str(labels), "--images", str(vn_train / "crops"), "--engine", "vnlpr", "--json",
                 "--clean-labels", "--warmup", "0", "--out-csv", str(tmp_path / "r.csv")])  # fmt: skip
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert 0 < result["n"] <= len(rows)
    # Measured 95.5 % on the whole test half with clean labels (docs/plate-reading.md).
    assert result["exact_match"] >= 0.9, result["exact_match"]
    assert {"operating_threshold", "charge_threshold", "at_operating", "by_height", "by_condition"} <= set(result)
    with (tmp_path / "r.csv").open(newline="") as f:
        out = list(csv.DictReader(f))
    assert {"file", "truth", "read", "confidence", "exact", "height_bucket", "condition"} <= set(out[0])


def test_detector_finds_held_out_plates(vn_train: Path) -> None:
    from gate_agent.reading.detect import PlateDetector
    from gate_agent.reading.localize import iou

    path = MODELS_DIR / "plates.onnx"
    assert path.is_file()
    det = PlateDetector(path)
    with (vn_train / "scenes.csv").open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == "val"]
    rows = random.Random(9).sample(rows, min(60, len(rows)))
    hit = total = 0
    for r in rows:
        img = cv2.imread(str(vn_train / "scenes" / r["file"]))
        w, h = int(r["width"]), int(r["height"])
        boxes = det.boxes(img, pad=0.0)
        for item in r["boxes"].split(";"):
            cx, cy, bw, bh = (float(v) for v in item.split()[1:])
            truth = (round((cx - bw / 2) * w), round((cy - bh / 2) * h), round(bw * w), round(bh * h))
            total += 1
            hit += any(iou(truth, b) >= 0.5 for b, _ in boxes)
    assert hit >= 0.8 * total, f"{hit}/{total}"
