"""Data passed from the reader to the lane loop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True, slots=True)
class PlateRead:
    """One plate read in one frame."""

    text_norm: str  # "29MD105200": A-Z0-9, as vnplate.normalize
    canonical: str  # "29-MD1 052.00"
    confidence: float  # 0..1: calibrated P(read is right), or the weakest character's probability
    kind: str  # "car" | "moto"
    bbox: tuple[int, int, int, int] | None  # x, y, w, h in the frame
    crop_jpeg: bytes | None  # the plate crop, for the attendant and the audit trail
    engine: str
    latency_ms: float  # time spent on the whole frame
    # The structural features the calibrated confidence was computed from (gate_agent/reading/confidence.py).
    features: dict[str, float] | None = None
    # vnplate.plate_category from the series and the background colour: civilian, commercial (yellow),
    # state (blue), military (red), diplomatic (NG), foreign_org (NN).
    category: str | None = None


class PlateReader(Protocol):
    def read(self, frame_bgr: np.ndarray) -> list[PlateRead]:
        """All plates read in a BGR frame, most confident first (empty if none)."""
        ...
