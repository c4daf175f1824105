"""Write the labels CSV of one half of the labelled vn-train validation *scenes*, for ``gate_agent eval``.

    python -m training.val_scenes --part test --out /tmp/val_scenes_test.csv
    python -m gate_agent eval --engine fused --labels /tmp/val_scenes_test.csv \
        --images ../shared/datasets/vn-train/scenes --calibration --json

Only scenes whose plate text is linked (README of vn-train) are kept; ``plate_count`` marks the file as
frames for ``eval`` (a frame is right when the plate is among its reads). The ``calib`` half is what
``training/calibrate.py`` fits on; the ``test`` half is never tuned on. Only labels are written, no photo.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from gate_agent.reading.eval import holdout_part


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=Path("../shared/datasets/vn-train"))
    ap.add_argument("--part", choices=("calib", "test"), default="test")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    with (args.data / "scenes.csv").open(newline="", encoding="utf-8") as f:
        rows = [
            r
            for r in csv.DictReader(f)
            if r["split"] == "val" and r["plate_norm"] and holdout_part(r["plate_norm"]) == args.part
        ]
    with args.out.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["file", "plate_norm", "plate_count", "plate_kind", "subset"])
        for r in rows:
            w.writerow([r["file"], r["plate_norm"], 1, r["subset"], r["subset"]])
    print(f"{len(rows)} scenes -> {args.out}")


if __name__ == "__main__":
    main()
