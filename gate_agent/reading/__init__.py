"""Plate reading on CPU: localise, split lines, recognise, decode under the plate grammar, fuse frames.

``make_reader`` loads a recogniser (weights from pip packages only) and returns a ``PlateReader``;
``FrameFuser`` turns a stream of per-frame reads into one decision per vehicle.
"""

from __future__ import annotations

import json
from pathlib import Path

from gate_agent.reading.fusion import FrameFuser, FusedPlate
from gate_agent.reading.types import PlateRead, PlateReader

__all__ = [
    "DEFAULT_ENGINE",
    "ENGINES",
    "FALLBACK_OPERATING_POINT",
    "FrameFuser",
    "FusedPlate",
    "PlateRead",
    "PlateReader",
    "engine_name",
    "make_reader",
    "operating_point",
]

ENGINES = ("fused", "vnlpr", "vnlpr+rapidocr", "rapidocr+vnlpr", "rapidocr", "easyocr")
DEFAULT_ENGINE = "fused"  # the most accurate on held-out and shared photos, p50 <= 80 ms: docs/plate-reading.md


MODELS_DIR = Path(__file__).parent / "models"
# For an engine without a calibrated entry in models/operating_point.json (easyocr, a test reader): the
# weakest-character thresholds of issue 4.
FALLBACK_OPERATING_POINT = {"operating_threshold": 0.6, "charge_threshold": 0.9}


def engine_name(engine: str) -> str:
    """The reader's name for an engine setting (``default`` -> ``DEFAULT_ENGINE``)."""
    return DEFAULT_ENGINE if engine == "default" else engine


def operating_point(engine: str) -> dict[str, float]:
    """The thresholds the gate and the server use for this engine: ``operating_threshold`` (wrong among
    accepted <= 0.5 %) and ``charge_threshold`` (<= 0.1 %), from ``models/operating_point.json``, which
    ``training/calibrate.py`` writes from the calibration half of the held-out plates. Cheap: no model
    is loaded, so the lane configuration can use it."""
    path = MODELS_DIR / "operating_point.json"
    table = json.loads(path.read_text()) if path.exists() else {}
    return dict(table.get(engine_name(engine), FALLBACK_OPERATING_POINT))


def make_reader(engine: str = "default", threads: int = 1) -> PlateReader:
    """Build a reader. Heavy imports (torch, OpenCV) happen here, not at package import."""
    from gate_agent.reading.engines import EasyOcrLines, RapidOcrLines, TrainedLines
    from gate_agent.reading.reader import PipelineReader

    name = engine_name(engine)
    if name == "fused":
        # Our recogniser and RapidOCR read every row; the plate is chosen by both (ensemble.py).
        from gate_agent.reading.confidence import Calibrator
        from gate_agent.reading.detect import PlateDetector
        from gate_agent.reading.ensemble import FusedReader

        det_path = MODELS_DIR / "plates.onnx"
        fused = FusedReader(
            TrainedLines(threads=threads),
            RapidOcrLines(threads=threads),
            calibrator=Calibrator.load(MODELS_DIR / "fused.calib.json"),
            detector=PlateDetector(det_path, threads=threads) if det_path.exists() else None,
            ranker=Calibrator.load(MODELS_DIR / "candidates.json"),
        )
        fused.skip_classical_at = operating_point(name)["operating_threshold"]
        return fused
    if name in ("vnlpr", "vnlpr+rapidocr", "rapidocr+vnlpr"):
        from gate_agent.reading.confidence import Calibrator
        from gate_agent.reading.detect import PlateDetector

        det_path = MODELS_DIR / "plates.onnx"
        first, second = name.split("+") if "+" in name else (name, None)
        lines = {"vnlpr": TrainedLines, "rapidocr": RapidOcrLines}
        pipeline = PipelineReader(
            lines[first](threads=threads),
            calibrator=Calibrator.load(MODELS_DIR / f"{name}.calib.json"),
            detector=PlateDetector(det_path, threads=threads) if det_path.exists() else None,
            ranker=Calibrator.load(MODELS_DIR / "candidates.json"),
            second=lines[second](threads=threads) if second else None,
        )
        pipeline.skip_classical_at = operating_point(name)["operating_threshold"]
        return pipeline
    if name == "easyocr":
        return PipelineReader(EasyOcrLines(threads=threads))
    if name == "rapidocr":
        try:
            return PipelineReader(RapidOcrLines(threads=threads))
        except ImportError as exc:
            raise ImportError(
                f"the {name!r} plate engine needs the `rapidocr-onnxruntime` package (gate extra): {exc}"
            ) from exc
    raise ValueError(f"unknown plate engine {engine!r}; known: {', '.join(ENGINES)}")
