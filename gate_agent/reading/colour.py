"""The plate's background colour (white, yellow, blue or red), which tells commercial, state and military
plates apart (``vnplate.plate_category``). Classical HSV statistics: no model needed for four colours."""

from __future__ import annotations

import cv2
import numpy as np

# OpenCV hue is 0..180. Saturated pixels must cover this share of the crop for a colour to count.
_MIN_SHARE = 0.3
_SATURATED = 70
_HUES = {"yellow": (12, 40), "blue": (90, 135)}


def plate_colour(crop_bgr: np.ndarray) -> str:
    """``white`` | ``yellow`` | ``blue`` | ``red`` for a BGR plate crop."""
    if crop_bgr.ndim != 3 or crop_bgr.size == 0:
        return "white"
    h, w = crop_bgr.shape[:2]
    # The centre of the crop: the plate, not the car body around a loose box.
    inner = crop_bgr[h // 8 : h - h // 8 or h, w // 10 : w - w // 10 or w]
    hsv = cv2.cvtColor(inner, cv2.COLOR_BGR2HSV).reshape(-1, 3)
    sat = hsv[(hsv[:, 1] >= _SATURATED) & (hsv[:, 2] >= 60)]
    if len(sat) < _MIN_SHARE * len(hsv):
        return "white"
    hue = sat[:, 0].astype(np.int32)
    shares = {name: float(((hue >= lo) & (hue <= hi)).mean()) for name, (lo, hi) in _HUES.items()}
    shares["red"] = float(((hue <= 8) | (hue >= 165)).mean())
    best = max(shares, key=lambda k: shares[k])
    return best if shares[best] >= 0.5 else "white"
