"""Fit the read-confidence calibration and pick the gate's thresholds on held-out plates.

    python -m training.calibrate --data ../shared/datasets/vn-train [--engine vnlpr+rapidocr]

Reads the *calibration half* of the vn-train validation plates (``eval.holdout_part``: crops with reliable
labels minus ``training/holdout_exclusions.csv``, and the labelled validation scenes of that half; the
recogniser never trained on any validation plate, and nothing was tuned on this half) with the engine, fits
``confidence.fit`` on the structural features of each read, and writes

* ``gate_agent/reading/models/<engine>.calib.json`` (the calibrator), and
* ``gate_agent/reading/models/operating_point.json``: the lowest thresholds whose wrong-among-accepted
  rate on this half is at most 0.5 % (``operating_threshold``, the gate's "accept") and 0.1 %
  (``charge_threshold``, a linked account may be charged without asking).

The *test* half reports the result (``python -m gate_agent eval ... --part test --calibration``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2

from gate_agent.reading import MODELS_DIR, make_reader
from gate_agent.reading.confidence import FEATURES, fit, reliability, threshold_for
from gate_agent.reading.ensemble import FUSED_FEATURES
from gate_agent.reading.eval import CALIBRATION_THRESHOLDS, Row, load_exclusions, load_labels
from gate_agent.reading.reader import PipelineReader


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=Path("../shared/datasets/vn-train"))
    ap.add_argument(
        "--engine",
        choices=("fused", "vnlpr", "vnlpr+rapidocr", "rapidocr+vnlpr", "rapidocr"),
        default="vnlpr",
        help="rapidocr: no calibrator, thresholds on its own confidence",
    )
    ap.add_argument("--out-dir", type=Path, default=MODELS_DIR)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument(
        "--scenes", action=argparse.BooleanOptionalAction, default=True,
        help="also the calibration half of the labelled validation scenes (default: yes)",
    )  # fmt: skip
    ap.add_argument(
        "--exclude", type=Path, default=Path(__file__).parent / "holdout_exclusions.csv",
        help="held-out crops to leave out (mislabelled crops of training plates)",
    )  # fmt: skip
    args = ap.parse_args()

    # Only rows with reliable labels: a wrong label read right would look like a confident error.
    rows, _ = load_labels(
        args.data / "crops.csv", split="val", part="calib", clean=True, exclude=load_exclusions(args.exclude)
    )
    if args.limit:
        rows = rows[: args.limit]
    reader = make_reader(args.engine, threads=1)
    assert isinstance(reader, PipelineReader)
    reader.calibrator = None  # features and the raw weakest-character confidence only
    feats: list[dict[str, float]] = []
    correct: list[bool] = []
    plates: list[str] = []
    n_none = 0
    # The calibration half of the labelled validation *scenes* too (the plate text linked to the scene,
    # README): whole frames, where a wrong plate or a mis-boxed one is read; crops alone have too few
    # errors to fit on (2 of 534 for the fused reader).
    scene_rows: list[Row] = []
    if args.scenes:
        scene_rows = [r for r in load_labels(args.data / "scenes.csv", split="val", part="calib")[0] if r.truths]
    items = [(row, args.data / "crops" / row.file) for row in rows]
    items += [(row, args.data / "scenes" / row.file) for row in scene_rows]
    for row, path in items:
        img = cv2.imread(str(path))
        if img is None:
            continue
        reads = reader.read(img)
        truth = row.truths[0]
        # As `gate_agent eval` on frames: the read of the labelled plate if there is one, else the top read.
        main = next((r for r in reads if r.text_norm == truth), reads[0] if reads else None)
        if main is None or main.features is None:
            n_none += 1
            continue
        feats.append(main.features)
        correct.append(main.text_norm == truth)
        plates.append(truth)
    names: tuple[str, ...] = (*FEATURES, "engines_agree") if reader.second is not None else FEATURES
    if args.engine == "fused":
        names = FUSED_FEATURES
    # Weighted by plate: the LPRNet subset has ~10 variants of each plate, whose errors are not independent.
    per_plate = {p: plates.count(p) for p in set(plates)}
    cal = fit(feats, correct, names, weights=[1.0 / per_plate[p] for p in plates])
    conf = [cal.predict(f) for f in feats]
    if args.engine == "rapidocr":  # its own confidence (weakest character), no calibrator written
        conf = [math.exp(f["log_min_char"]) for f in feats]
    op = threshold_for(conf, correct, 0.005)
    charge = threshold_for(conf, correct, 0.001)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    if args.engine != "rapidocr":
        (args.out_dir / f"{args.engine}.calib.json").write_text(cal.to_json() + "\n")
    point = {args.engine: {"operating_threshold": round(op, 4), "charge_threshold": round(charge, 4)}}
    path = args.out_dir / "operating_point.json"
    table = json.loads(path.read_text()) if path.exists() else {}
    table.update(point)
    path.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    print(
        json.dumps(
            {
                "calibration_reads": len(feats),
                "crops": len(rows),
                "scenes": len(scene_rows),
                "no_read": n_none,
                "correct": sum(correct),
                "weights": dict(zip(("bias", *cal.names), cal.weights.round(3).tolist(), strict=True)),
                **point[args.engine],
                "in_sample": reliability(conf, correct, CALIBRATION_THRESHOLDS),
            }
        )
    )


if __name__ == "__main__":
    main()
