"""Helpers for the gate agent tests (a module name no other test area uses)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image


def make_plate_folder(folder: Path, plates: list[str], seed: int = 1) -> Path:
    """Images standing in for camera frames (noise, so they decode as real non-uniform
    images) plus labels.csv: the camera-edge fake the sidecar reader reads."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    with (folder / "labels.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "plate_text", "plate_kind"])
        for i, p in enumerate(plates):
            name = f"img_{i:03d}.png"
            Image.fromarray(rng.integers(0, 255, (24, 94, 3), dtype=np.uint8)).save(folder / name)
            w.writerow([name, p, "moto_2line" if " " in p else "car_1line"])
    return folder


def plates(n: int) -> list[str]:
    return [f"30A-{i:03d}.{(i * 7) % 100:02d}" for i in range(n)]


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(path: Path, sections: dict[str, dict[str, Any]]) -> Path:
    lines = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in values.items() if v is not None]
        lines.append("")
    path.write_text("\n".join(lines))
    return path
