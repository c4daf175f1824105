"""Free spaces 15-60 minutes ahead, per lot and vehicle class, learnt from the lot's own history. Pure (numpy).

The series is the occupied count sampled every ``step_min`` minutes. The forecast for ``t + h`` is

    profile(t + h) + a_h * (occ(t) - profile(t)) + b_h * (occ(t) - occ(t - lag))

where ``profile`` is the lot's mean occupancy by day of week and time of day (the habit of the place), the
second term carries today's departure from habit (a rainy day, an event nearby) decaying with the horizon,
and the third the recent trend. ``a_h`` and ``b_h`` are fitted per horizon by least squares. The error band
is split-conformal: the 10th-90th percentiles of the residuals on days the fit did not see, so its coverage
on new days is what it claims (checked in docs/forecast.md), not a normal-theory guess.

Hand-written on purpose: the model is three numbers per horizon over a seasonal mean; a forecasting library
(statsmodels, sktime) would add a heavy dependency for what is a small linear fit, and could not run on each
lot at request time as cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

HORIZONS_MIN = (15, 30, 45, 60)


@dataclass(frozen=True)
class Series:
    """Occupied counts every ``step_min`` minutes from a start at a known weekday and minute of day."""

    values: Array
    capacity: int
    step_min: int
    start_weekday: int  # 0 = Monday, local time
    start_minute: int  # minute of the local day of values[0]

    def slot(self, i: npt.NDArray[np.int64] | int) -> npt.NDArray[np.int64]:
        """Index into the weekly profile (weekday x slot of the day) of sample i."""
        per_day = 1440 // self.step_min
        k = np.asarray(i) + self.start_minute // self.step_min + self.start_weekday * per_day
        return np.asarray(k % (7 * per_day), dtype=np.int64)


@dataclass
class Forecaster:
    step_min: int
    capacity: int
    profile: Array  # mean occupancy per weekly slot
    lag: int  # samples back for the trend term
    coef: dict[int, tuple[float, float]] = field(default_factory=dict)  # horizon (min) -> (a, b)
    band: dict[int, tuple[float, float]] = field(default_factory=dict)  # horizon -> (q10, q90) of residuals

    def predict(self, s: Series, i: int, horizon_min: int) -> tuple[float, float, float]:
        """(occupied, low, high) predicted for sample i + horizon, knowing samples up to i."""
        h = horizon_min // self.step_min
        a, b = self.coef[horizon_min]
        p_now, p_then = self.profile[s.slot(i)], self.profile[s.slot(i + h)]
        trend = s.values[i] - s.values[max(i - self.lag, 0)]
        y = float(p_then + a * (s.values[i] - p_now) + b * trend)
        lo, hi = self.band.get(horizon_min, (0.0, 0.0))
        cap = float(self.capacity)
        return _clip(y, cap), _clip(y + lo, cap), _clip(y + hi, cap)


def _clip(v: float, capacity: float) -> float:
    return float(min(max(v, 0.0), capacity))


def weekly_profile(s: Series) -> Array:
    per_week = 7 * 1440 // s.step_min
    slots = s.slot(np.arange(len(s.values)))
    sums = np.bincount(slots, weights=s.values, minlength=per_week)
    counts = np.bincount(slots, minlength=per_week)
    overall = float(s.values.mean()) if len(s.values) else 0.0
    # A slot never seen (short history) falls back on the same time of day over all weekdays, then the mean.
    prof = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    per_day = 1440 // s.step_min
    by_time = np.nanmean(prof.reshape(7, per_day), axis=0) if np.any(counts) else np.full(per_day, overall)
    by_time = np.where(np.isnan(by_time), overall, by_time)
    return np.asarray(np.where(np.isnan(prof), np.tile(by_time, 7), prof), dtype=np.float64)


def _design(s: Series, profile: Array, h: int, lag: int) -> tuple[Array, Array]:
    idx = np.arange(lag, len(s.values) - h)
    dev = s.values[idx] - profile[s.slot(idx)]
    trend = s.values[idx] - s.values[idx - lag]
    target = s.values[idx + h] - profile[s.slot(idx + h)]
    return np.column_stack([dev, trend]), target


def fit(train: Series, calibrate: Series | None = None, lag_min: int = 15) -> Forecaster:
    """Fit on ``train``; the error band from ``calibrate`` (later days), or from train when none is given."""
    lag = max(1, lag_min // train.step_min)
    profile = weekly_profile(train)
    f = Forecaster(train.step_min, train.capacity, profile, lag)
    for hm in HORIZONS_MIN:
        h = hm // train.step_min
        x, y = _design(train, profile, h, lag)
        coef, *_ = np.linalg.lstsq(x, y, rcond=None)
        f.coef[hm] = (float(coef[0]), float(coef[1]))
        cal = calibrate or train
        xc, yc = _design(cal, profile, h, lag)
        resid = yc - xc @ coef
        f.band[hm] = (float(np.quantile(resid, 0.10)), float(np.quantile(resid, 0.90)))
    return f


def evaluate(f: Forecaster, test: Series, history: Series) -> dict[str, dict[str, float]]:
    """MAE of the model and of the naive baselines on ``test``, per horizon, and the band's coverage.

    ``history`` is the series just before ``test`` (for "same time last week").
    """
    week = 7 * 1440 // test.step_min
    joined = np.concatenate([history.values, test.values])
    off = len(history.values)
    out: dict[str, dict[str, float]] = {}
    for hm in HORIZONS_MIN:
        h = hm // test.step_min
        errs_m, errs_last, errs_week, inside = [], [], [], 0
        n = 0
        for i in range(f.lag, len(test.values) - h):
            truth = test.values[i + h]
            y, lo, hi = f.predict(test, i, hm)
            errs_m.append(abs(y - truth))
            errs_last.append(abs(test.values[i] - truth))
            j = off + i + h - week
            errs_week.append(abs(joined[j] - truth) if j >= 0 else abs(test.values[i] - truth))
            inside += int(lo <= truth <= hi)
            n += 1
        out[f"{hm}min"] = {
            "mae_model": round(float(np.mean(errs_m)), 3),
            "mae_last_value": round(float(np.mean(errs_last)), 3),
            "mae_same_time_last_week": round(float(np.mean(errs_week)), 3),
            "band_80_coverage": round(inside / max(n, 1), 3),
            "band_mean_width": round(f.band[hm][1] - f.band[hm][0], 2),
            "samples": n,
        }
    return out
