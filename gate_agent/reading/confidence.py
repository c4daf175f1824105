"""Calibrated read confidence that sees the whole plate, not only its weakest character (pure numpy).

The weakest character's probability cannot see a character that was dropped or added (a digit lost beside
a bolt, a border read as "1"): the remaining characters are all sharp. So a read is described by
structural features — how far the chosen text is ahead of the best *different* text and of the best text
of *another length*, whether its layout wins only by its prior, how many characters per unit of line
width each row holds, the row-width ratio of two-row plates — and a logistic model maps them to the
probability that the read is right. The model is fitted (``fit``) on held-out photos that were not used
for training or tuning, and stored as a small JSON file beside the recogniser.

Logistic regression is hand-written (Newton's method, a dozen lines) rather than taken from scikit-learn,
which is not a gate dependency and would be the only reason to install it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_CAP = 12.0  # log-probability margins above this are all "clearly ahead"

FEATURES = (
    "log_min_char",
    "mean_log_char",
    "margin",
    "raw_margin_neg",
    "len_margin",
    "two_rows",
    "density_dev",
    "width_ratio_dev",
)

# Characters per unit of line aspect (width / height) of well-cut rows, measured on vn-train crops:
# a row with many fewer characters than its width holds has probably lost one.
_DENSITY = {"car": 8.5 / 4.6, "top": 4.0 / 2.3, "bottom": 5.0 / 3.2}


def plate_features(
    *,
    min_char: float,
    logp: float,
    n_chars: int,
    margin: float | None,
    raw_margin: float | None,
    len_margin: float | None,
    two_rows: bool,
    geometry: dict[str, float],
) -> dict[str, float]:
    """Features of one read (see the module docstring). Margins are log-probability differences."""
    mean_log = logp / max(1, n_chars)
    dens_dev = 0.0
    if "aspect_top" in geometry and not two_rows:
        dens_dev = abs(math.log(max(1e-3, n_chars / max(0.5, geometry["aspect_top"]) / _DENSITY["car"])))
    elif "aspect_bottom" in geometry:
        n_bottom = 5 if n_chars >= 9 else 4
        n_top = n_chars - n_bottom
        d_top = n_top / max(0.5, geometry["aspect_top"]) / _DENSITY["top"]
        d_bottom = n_bottom / max(0.5, geometry["aspect_bottom"]) / _DENSITY["bottom"]
        dens_dev = max(abs(math.log(max(1e-3, d_top))), abs(math.log(max(1e-3, d_bottom))))
    ratio_dev = abs(math.log(max(1e-3, geometry["width_ratio"]))) if "width_ratio" in geometry else 0.0
    return {
        "log_min_char": math.log(max(1e-6, min_char)),
        "mean_log_char": max(-_CAP, mean_log),
        "margin": min(_CAP, margin) if margin is not None else _CAP,
        "raw_margin_neg": min(_CAP, max(0.0, -raw_margin)) if raw_margin is not None else 0.0,
        "len_margin": min(_CAP, len_margin) if len_margin is not None else _CAP,
        "two_rows": 1.0 if two_rows else 0.0,
        "density_dev": min(3.0, dens_dev),
        "width_ratio_dev": min(3.0, ratio_dev),
        **({"engines_agree": geometry["engines_agree"]} if "engines_agree" in geometry else {}),
    }


def _vector(feats: dict[str, float], names: Sequence[str]) -> np.ndarray:
    return np.array([feats.get(n, 0.0) for n in names], dtype=np.float64)


@dataclass
class Calibrator:
    names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray  # bias first

    def predict(self, feats: dict[str, float]) -> float:
        z = (_vector(feats, self.names) - self.mean) / self.scale
        s = float(self.weights[0] + z @ self.weights[1:])
        return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, s))))

    def to_json(self) -> str:
        return json.dumps(
            {
                "names": list(self.names),
                "mean": self.mean.round(6).tolist(),
                "scale": self.scale.round(6).tolist(),
                "weights": self.weights.round(6).tolist(),
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> Calibrator:
        d = json.loads(text)
        return cls(tuple(d["names"]), np.array(d["mean"]), np.array(d["scale"]), np.array(d["weights"]))

    @classmethod
    def load(cls, path: Path) -> Calibrator | None:
        return cls.from_json(path.read_text()) if path.exists() else None


def fit(
    rows: Sequence[dict[str, float]],
    correct: Sequence[bool],
    names: Sequence[str] = FEATURES,
    l2: float = 1.0,
    weights: Sequence[float] | None = None,
) -> Calibrator:
    """L2-regularised logistic regression by Newton's method on standardised features. ``weights`` per
    row (e.g. 1 / photos of that plate, so ten variants of one plate do not count as ten plates)."""
    x = np.stack([_vector(r, names) for r in rows])
    y = np.asarray(correct, dtype=np.float64)
    sw = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    sw = sw * len(sw) / max(float(sw.sum()), 1e-12)
    mean = x.mean(axis=0)
    scale = np.where(x.std(axis=0) > 1e-9, x.std(axis=0), 1.0)
    z = np.hstack([np.ones((len(x), 1)), (x - mean) / scale])
    w = np.zeros(z.shape[1])
    reg = np.full(z.shape[1], l2)
    reg[0] = 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -40, 40)))
        grad = z.T @ (sw * (p - y)) + reg * w
        hess = (z * (sw * p * (1 - p))[:, None]).T @ z + np.diag(reg) + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    return Calibrator(tuple(names), mean, scale, w)


def reliability(confidence: Sequence[float], correct: Sequence[bool], thresholds: Sequence[float]) -> list[dict]:
    """For each threshold: share of reads accepted (confidence >= t) and wrong among the accepted."""
    c = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=bool)
    out = []
    for t in thresholds:
        acc = c >= t
        n_acc = int(acc.sum())
        wrong = int((acc & ~ok).sum())
        out.append(
            {
                "threshold": t,
                "accepted": round(n_acc / max(1, len(c)), 4),
                "n_accepted": n_acc,
                "wrong": wrong,
                "wrong_among_accepted": round(wrong / n_acc, 4) if n_acc else 0.0,
            }
        )
    return out


def threshold_for(confidence: Sequence[float], correct: Sequence[bool], max_wrong_rate: float) -> float:
    """The lowest threshold whose wrong-among-accepted rate is at most ``max_wrong_rate`` at that
    threshold and at every higher one (so the rate does not creep back up above the operating point).
    When even the most confident reads are too often wrong, the threshold is just above all of them."""
    pairs = sorted(zip(confidence, correct, strict=True), key=lambda p: -p[0])
    if not pairs:
        return 1.0
    best = math.nextafter(max(1.0, pairs[0][0]), math.inf)
    wrong = 0
    for i, (c, ok) in enumerate(pairs, start=1):
        wrong += 0 if ok else 1
        if wrong / i > max_wrong_rate:
            break
        if i == len(pairs) or pairs[i][0] < c:  # only cut between distinct confidence values
            best = c
    return float(best)
