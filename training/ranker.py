"""Fit the plate-candidate ranker on vn-train scenes and measure candidate recall before and after.

    python -m training.ranker --data ../shared/datasets/vn-train

``localize.propose`` finds rows of character-like blobs; the classical ranking (most blobs first) puts
the right box below others in busy scenes. A logistic model on the candidate's shape, size, place,
contrast and stroke density (``localize.candidate_features``) re-ranks a larger pool. Positives are
candidates overlapping a labelled plate box with IoU >= 0.4. Fitted on the train split, measured on the
val split (recall@k: a candidate with IoU >= 0.4 among the first k). Writes
``gate_agent/reading/models/candidates.json``. Seeded subsample (``--seed``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2

from gate_agent.reading import MODELS_DIR
from gate_agent.reading.confidence import Calibrator, fit
from gate_agent.reading.localize import BBox, candidate_features, iou, propose, to_gray

NAMES = ("score", "rank", "two_line", "log_aspect", "log_area", "cx", "cy", "mean", "std", "contrast", "edges")


def scenes(root: Path, split: str, limit: int, seed: int) -> list[tuple[Path, list[BBox]]]:
    out = []
    with open(root / "scenes.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["split"] != split:
                continue
            w, h = int(row["width"]), int(row["height"])
            boxes: list[BBox] = []
            for item in row["boxes"].split(";"):
                parts = item.split()
                if len(parts) != 5:
                    continue
                cx, cy, bw, bh = (float(v) for v in parts[1:])
                boxes.append((round((cx - bw / 2) * w), round((cy - bh / 2) * h), round(bw * w), round(bh * h)))
            if boxes:
                out.append((root / "scenes" / row["file"], boxes))
    random.Random(seed).shuffle(out)
    return out[:limit] if limit else out


def recall_at(ranked: list[list[bool]], k: int) -> float:
    return sum(any(r[:k]) for r in ranked) / max(1, len(ranked))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=Path("../shared/datasets/vn-train"))
    ap.add_argument("--train-limit", type=int, default=900)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--out", type=Path, default=MODELS_DIR / "candidates.json")
    args = ap.parse_args()

    feats: list[dict[str, float]] = []
    labels: list[bool] = []
    for path, boxes in scenes(args.data, "train", args.train_limit, args.seed):
        img = cv2.imread(str(path))
        if img is None:
            continue
        gray = to_gray(img)
        for i, c in enumerate(propose(img, 18)):
            feats.append(candidate_features(gray, c, i))
            labels.append(any(iou(c.bbox, b) >= 0.4 for b in boxes))
    ranker = fit(feats, labels, NAMES)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(ranker.to_json() + "\n")
    ranker = Calibrator.from_json(args.out.read_text())

    before: list[list[bool]] = []
    after: list[list[bool]] = []
    for path, boxes in scenes(args.data, "val", 0, args.seed):
        img = cv2.imread(str(path))
        if img is None:
            continue
        before.append([any(iou(c.bbox, b) >= 0.4 for b in boxes) for c in propose(img, 6)])
        after.append([any(iou(c.bbox, b) >= 0.4 for b in boxes) for c in propose(img, 6, ranker=ranker)])
    report = {
        "train_candidates": len(labels),
        "train_positive": sum(labels),
        "val_scenes": len(before),
        "recall_at_1": {"classical": round(recall_at(before, 1), 4), "ranked": round(recall_at(after, 1), 4)},
        "recall_at_3": {"classical": round(recall_at(before, 3), 4), "ranked": round(recall_at(after, 3), 4)},
        "recall_at_6": {"classical": round(recall_at(before, 6), 4), "ranked": round(recall_at(after, 6), 4)},
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
