"""Input preparation of the trained line recogniser, shared by training and the gate (numpy + OpenCV only).

A text line (grey) is contrast-stretched, scaled to 32 px high keeping its aspect ratio, and padded on the
right with its background level up to 160 px (a line wider than that is squeezed to fit).
"""

from __future__ import annotations

import string

import cv2
import numpy as np

ALPHABET = string.digits + string.ascii_uppercase  # index 0 of the output is the CTC blank
LINE_H = 32
LINE_W = 160


def prepare_line(gray: np.ndarray) -> np.ndarray:
    """A float32 (32 x 160) array in [-1, 1] for one grey uint8 line image."""
    if gray.ndim == 3:
        gray = cv2.cvtColor(gray, cv2.COLOR_BGR2GRAY)
    h, w = gray.shape[:2]
    new_w = max(4, min(LINE_W, round(w * LINE_H / max(1, h))))
    img = cv2.resize(gray, (new_w, LINE_H), interpolation=cv2.INTER_AREA if h > LINE_H else cv2.INTER_CUBIC)
    x = img.astype(np.float32)
    lo, hi = float(np.percentile(x, 2)), float(np.percentile(x, 98))
    x = (x - lo) / max(hi - lo, 16.0)
    x = np.clip(x, 0.0, 1.0) * 2.0 - 1.0
    if new_w < LINE_W:
        # Pad with the background level (the plate's paper, usually light) rather than edge streaks.
        bg = float(np.percentile(x, 75))
        x = np.concatenate([x, np.full((LINE_H, LINE_W - new_w), bg, dtype=np.float32)], axis=1)
    return np.ascontiguousarray(x, dtype=np.float32)
