"""``python -m gate_agent eval``: read every labelled image and report accuracy and latency.

Two label formats are understood:

* plate crops (``vn-plates/labels.csv``): one plate per image; exact match on the first read;
* full frames (``vn-frames/labels.csv``): ``plate_norm`` lists the plates separated by ``;`` (the first
  is the main subject). ``exact_match`` is then on the main plate (read anywhere in the frame), and
  ``plate_recall`` counts every labelled plate.

Latency is measured per image after loading the model and a warm-up, in this process, with the
configured number of threads (default one).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gate_agent.reading import operating_point
from gate_agent.reading.confidence import reliability
from gate_agent.reading.datasets import REPO_ROOT, datasets_dir

CALIBRATION_THRESHOLDS = (0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)


@dataclass
class Row:
    file: str
    truths: list[str]
    kind: str
    subset: str
    height: int = 0  # crop height in pixels from the labels (0: measure the image)


def holdout_part(plate_norm: str) -> str:
    """Which half of a held-out split a plate belongs to: ``calib`` (fits the confidence calibration and
    picks the thresholds) or ``test`` (reports them). By plate, so no plate is on both sides."""
    return "calib" if int(hashlib.md5(f"part:{plate_norm}".encode()).hexdigest()[:8], 16) % 2 == 0 else "test"


def height_bucket(h: int) -> str:
    if h < 24:
        return "<24px"
    if h < 45:
        return "24-45px"
    if h < 100:
        return "45-100px"
    return ">=100px"


def condition(img: Any) -> str:
    """A coarse photo condition from the pixels (no labels for it): dark, glare, blurred or normal."""
    import cv2
    import numpy as np

    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if img.ndim == 3 else img
    if float(gray.mean()) < 70:
        return "dark"
    if float((gray >= 250).mean()) > 0.12:
        return "glare"
    small = cv2.resize(gray, (max(8, round(gray.shape[1] * 48 / gray.shape[0])), 48))
    if float(cv2.Laplacian(small, cv2.CV_64F).var()) < 150 or float(np.std(small)) < 25:
        return "blurred_or_flat"
    return "normal"


def _distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def char_accuracy(truth: str, got: str) -> float:
    """1 - edit distance / label length, floored at 0 (an empty read scores 0)."""
    if not truth:
        return 0.0
    return max(0.0, 1.0 - _distance(truth, got) / len(truth))


def clean_label(row: dict[str, str]) -> bool:
    """vn-train rows whose text is reliable (its README): file-name labels (LPRNet), or character-box labels
    that a second, independent OCR source agrees with. Other OCR rows are about 11 % wrong."""
    origin, check = row.get("label_origin", ""), row.get("label_check", "")
    return "format_unusual" not in check and (origin.startswith("source_filename") or "vito_ocr_agrees" in check)


def load_exclusions(path: Path | None) -> frozenset[str]:
    """File names listed in an exclusions CSV (column ``file``), e.g. ``training/holdout_exclusions.csv``:
    held-out crops that are not unseen plates after all (a wrong label hiding a training plate)."""
    if path is None:
        return frozenset()
    with path.open(newline="", encoding="utf-8") as f:
        return frozenset(r["file"] for r in csv.DictReader(f))


def load_labels(
    path: Path,
    split: str | None = None,
    part: str | None = None,
    clean: bool = False,
    exclude: frozenset[str] = frozenset(),
) -> tuple[list[Row], bool]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields = set(reader.fieldnames or [])
        missing = {"file", "plate_norm"} - fields
        if missing:
            raise SystemExit(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        raw = list(reader)
    if split:
        raw = [r for r in raw if r.get("split") == split]
    if part:
        raw = [r for r in raw if holdout_part(r["plate_norm"]) == part]
    if clean:
        raw = [r for r in raw if clean_label(r)]
    if exclude:
        raw = [r for r in raw if r["file"] not in exclude]
    frames = "plate_count" in fields or any(";" in r["plate_norm"] for r in raw)
    rows = [
        Row(
            file=r["file"],
            truths=[t for t in r["plate_norm"].split(";") if t],
            kind=r.get("plate_kind") or "unknown",
            subset=r.get("subset") or "",
            height=int(r.get("height") or 0) if "plate_count" not in fields else 0,
        )
        for r in raw
    ]
    return rows, frames


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))
    return s[k]


class _Progress:
    """A one-line progress bar on stderr (no dependency: tqdm is not in the gate's requirements)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.enabled, self.done = total, enabled, 0

    def step(self) -> None:
        self.done += 1
        if self.enabled:
            width = 30
            filled = round(width * self.done / max(1, self.total))
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def _group_stats(items: list[tuple[bool, float]]) -> dict[str, Any]:
    return {
        "n": len(items),
        "exact_match": round(sum(ok for ok, _ in items) / len(items), 4) if items else 0.0,
        "char_accuracy": round(sum(c for _, c in items) / len(items), 4) if items else 0.0,
    }


def build_parser() -> argparse.ArgumentParser:
    default = datasets_dir() / "vn-plates"
    p = argparse.ArgumentParser(prog="python -m gate_agent eval", description=__doc__.splitlines()[0])
    p.add_argument("--labels", type=Path, default=default / "labels.csv", help="labels CSV")
    p.add_argument("--images", type=Path, default=None, help="image folder (default: the CSV's folder)")
    p.add_argument("--engine", default="default", help="rapidocr | easyocr | default")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--warmup", type=int, default=3, help="untimed reads before measuring")
    p.add_argument("--limit", type=int, default=0, help="read only the first N images")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--out-csv", type=Path, default=None, help="per-image reads (default .parking/eval/)")
    p.add_argument("--split", default=None, help="only rows whose `split` column is this (vn-train: val)")
    p.add_argument(
        "--part", choices=("calib", "test"), default=None, help="only this half of the plates (holdout_part)"
    )
    p.add_argument("--calibration", action="store_true", help="print the reliability table")
    p.add_argument("--clean-labels", action="store_true", help="vn-train: only rows with reliable labels")
    p.add_argument(
        "--exclude", type=Path, default=None,
        help="CSV of files to leave out (training/holdout_exclusions.csv: mislabelled training plates)",
    )  # fmt: skip
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import os

    # Before numpy/torch/onnxruntime start their thread pools.
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import cv2

    from gate_agent.reading import make_reader

    labels: Path = args.labels
    if not labels.exists():
        print(f"labels not found: {labels} (set PARKING_DATASETS_DIR)", file=sys.stderr)
        return 2
    images: Path = args.images or labels.parent
    rows, frames = load_labels(labels, args.split, args.part, args.clean_labels, load_exclusions(args.exclude))
    if args.limit:
        rows = rows[: args.limit]

    t_load = time.perf_counter()
    reader = make_reader(args.engine, threads=args.threads)
    load_s = time.perf_counter() - t_load
    for row in rows[: args.warmup]:
        img = cv2.imread(str(images / row.file))
        if img is not None:
            reader.read(img)

    out_csv: Path = args.out_csv or (REPO_ROOT / ".parking" / "eval" / f"reads-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.csv")
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    progress = _Progress(len(rows), enabled=(not args.json) or sys.stderr.isatty())
    latencies: list[float] = []
    per_kind: dict[str, list[tuple[bool, float]]] = defaultdict(list)
    per_subset: dict[str, list[tuple[bool, float]]] = defaultdict(list)
    per_height: dict[str, list[tuple[bool, float]]] = defaultdict(list)
    per_condition: dict[str, list[tuple[bool, float]]] = defaultdict(list)
    confidences: list[float] = []
    categories: dict[str, int] = defaultdict(int)
    corrects: list[bool] = []
    overall: list[tuple[bool, float]] = []
    plates_total = plates_found = extra_reads = 0
    with out_csv.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["file", "truth", "read", "all_reads", "exact", "char_accuracy", "confidence",
                    "kind", "read_kind", "subset", "latency_ms", "height_bucket", "condition"])  # fmt: skip
        for row in rows:
            img = cv2.imread(str(images / row.file))
            cond = condition(img) if img is not None else "unreadable"
            bucket = "frame" if frames else height_bucket(row.height or (img.shape[0] if img is not None else 0))
            if img is None:
                reads = []
                ms = 0.0
            else:
                t0 = time.perf_counter()
                reads = reader.read(img)
                ms = (time.perf_counter() - t0) * 1000.0
                latencies.append(ms)
            texts = [r.text_norm for r in reads]
            main_truth = row.truths[0] if row.truths else ""
            if frames:
                ok = main_truth in texts
                got = main_truth if ok else (texts[0] if texts else "")
                plates_total += len(row.truths)
                plates_found += sum(t in texts for t in row.truths)
                extra_reads += sum(t not in row.truths for t in texts)
            else:
                got = texts[0] if texts else ""
                ok = got == main_truth
            ca = char_accuracy(main_truth, got)
            overall.append((ok, ca))
            per_kind[row.kind].append((ok, ca))
            if row.subset:
                per_subset[row.subset].append((ok, ca))
            per_height[bucket].append((ok, ca))
            per_condition[cond].append((ok, ca))
            top = reads[0] if reads else None
            if top is not None:
                categories[getattr(top, "category", None) or "unknown"] += 1
            # A frame's read for calibration: the main plate's read if found, else the top read.
            main = next((r for r in reads if r.text_norm == main_truth), top) if frames else top
            confidences.append(main.confidence if main else 0.0)
            corrects.append(bool(main is not None and main.text_norm == main_truth))
            w.writerow([row.file, ";".join(row.truths), got, ";".join(texts), int(ok), round(ca, 4),
                        round(top.confidence, 4) if top else "", row.kind, top.kind if top else "",
                        row.subset, round(ms, 2), bucket, cond])  # fmt: skip
            progress.step()
    progress.close()

    result: dict[str, Any] = {
        "labels": str(labels),
        "engine": getattr(reader, "name", args.engine),
        "threads": args.threads,
        "frames": frames,
        **_group_stats(overall),
        "latency_ms": {
            "p50": round(statistics.median(latencies), 1) if latencies else 0.0,
            "p95": round(_percentile(latencies, 95), 1),
            "mean": round(statistics.fmean(latencies), 1) if latencies else 0.0,
        },
        "model_load_s": round(load_s, 2),
        "by_kind": {k: _group_stats(v) for k, v in sorted(per_kind.items())},
        "by_subset": {k: _group_stats(v) for k, v in sorted(per_subset.items())},
        "by_height": {k: _group_stats(v) for k, v in sorted(per_height.items())},
        "by_condition": {k: _group_stats(v) for k, v in sorted(per_condition.items())},
        "read_categories": dict(sorted(categories.items())),
        "out_csv": str(out_csv),
    }
    op = operating_point(result["engine"])
    result["operating_threshold"] = op["operating_threshold"]
    result["charge_threshold"] = op["charge_threshold"]
    result["at_operating"] = reliability(confidences, corrects, [op["operating_threshold"]])[0]
    result["at_charge"] = reliability(confidences, corrects, [op["charge_threshold"]])[0]
    if args.calibration:
        result["calibration"] = reliability(confidences, corrects, CALIBRATION_THRESHOLDS)
    if frames:
        result["plates"] = plates_total
        result["plate_recall"] = round(plates_found / plates_total, 4) if plates_total else 0.0
        result["unlabelled_reads"] = extra_reads
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"labels        {labels}")
    print(f"engine        {result['engine']} ({args.threads} thread(s), model load {load_s:.1f} s)")
    what = "main plate read (frames)" if frames else "exact match"
    print(f"{what:<24} {result['exact_match']:.1%} of {result['n']}")
    print(f"{'character accuracy':<24} {result['char_accuracy']:.1%}")
    if frames:
        print(f"{'plate recall':<24} {result['plate_recall']:.1%} of {plates_total} plates "
              f"({extra_reads} reads of unlabelled or wrong plates)")  # fmt: skip
    lat = result["latency_ms"]
    print(f"{'latency per image':<24} p50 {lat['p50']} ms, p95 {lat['p95']} ms")
    for name, key in (("operating", "at_operating"), ("charge", "at_charge")):
        a = result[key]
        print(f"{name + ' threshold':<24} {a['threshold']:.3f}: accepts {a['accepted']:.1%}, "
              f"wrong among accepted {a['wrong_among_accepted']:.2%} ({a['wrong']}/{a['n_accepted']})")  # fmt: skip
    tables = (("by kind", result["by_kind"]), ("by subset", result["by_subset"]),
              ("by plate height", result["by_height"]), ("by condition", result["by_condition"]))  # fmt: skip
    for title, table in tables:
        if table:
            print(title)
            for k, v in table.items():
                print(f"  {k:<20} {v['exact_match']:>7.1%}  chars {v['char_accuracy']:.1%}  n={v['n']}")
    if args.calibration:
        print("calibration (threshold, accepted, wrong among accepted)")
        for c in result["calibration"]:
            print(f"  {c['threshold']:<6} {c['accepted']:>7.1%}  {c['wrong_among_accepted']:>7.2%}  "
                  f"({c['wrong']}/{c['n_accepted']})")  # fmt: skip
    print(f"per-image reads: {out_csv}")
    return 0


def register(app: Any) -> None:
    """Add ``eval`` to a Typer app; options are passed through to ``main`` unchanged."""
    import typer

    def _eval(ctx: typer.Context) -> None:
        raise typer.Exit(main(list(ctx.args)))

    # This module uses postponed annotations; Typer needs the real class to inject the context.
    _eval.__annotations__ = {"ctx": typer.Context, "return": None}
    app.command(
        "eval",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        help="Measure plate reading on a labelled folder (see `python -m gate_agent eval --help`).",
    )(_eval)


if __name__ == "__main__":
    raise SystemExit(main())
