"""python -m parking.forecast [--weeks 10] [--seeds 1 2 3]: accuracy of the free-space forecast against the
naive baselines on generated histories; prints one JSON object (reported in docs/forecast.md)."""

from __future__ import annotations

import argparse
import json

from parking.forecast.history import generate, split
from parking.forecast.model import HORIZONS_MIN, evaluate, fit


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--weeks", type=int, default=10, help="history length: train on all but the last 2 weeks")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--capacity", type=int, default=120)
    a = p.parse_args()
    runs = []
    for seed in a.seeds:
        s = generate(weeks=a.weeks, capacity=a.capacity, seed=seed)
        days = 7 * a.weeks
        train, rest = split(s, days - 14)
        calib, test = split(rest, 7)
        f = fit(train, calibrate=calib)
        # The naive "same time last week" looks back into the calibration week.
        runs.append({"seed": seed, "horizons": evaluate(f, test, calib)})
    summary = {}
    for hm in HORIZONS_MIN:
        key = f"{hm}min"
        rows = [r["horizons"][key] for r in runs]
        summary[key] = {
            k: round(sum(float(r[k]) for r in rows) / len(rows), 3)
            for k in ("mae_model", "mae_last_value", "mae_same_time_last_week", "band_80_coverage", "band_mean_width")
        }
    print(json.dumps({"weeks": a.weeks, "capacity": a.capacity, "seeds": a.seeds, "mean": summary, "runs": runs}))


if __name__ == "__main__":
    main()
