"""Calibrated confidence (pure numpy): fitting, reliability table, threshold choice; plate colour."""

from __future__ import annotations

import math
import random

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from gate_agent.reading.colour import plate_colour
from gate_agent.reading.confidence import Calibrator, fit, plate_features, reliability, threshold_for
from gate_agent.reading.synth import render_plate

CONF_OK = st.lists(st.tuples(st.floats(0.0, 1.0, allow_nan=False), st.booleans()), min_size=1, max_size=200)


@given(CONF_OK, st.sampled_from([0.0, 0.001, 0.005, 0.05]))
def test_threshold_keeps_wrong_rate_at_every_higher_threshold(pairs: list[tuple[float, bool]], rate: float) -> None:
    conf = [c for c, _ in pairs]
    ok = [o for _, o in pairs]
    t = threshold_for(conf, ok, rate)
    higher = sorted({c for c in conf if c >= t}) or [t]
    for row in reliability(conf, ok, higher):
        assert row["wrong"] <= rate * row["n_accepted"] + 1e-9


@given(CONF_OK)
def test_reliability_accepts_fewer_as_the_threshold_rises(pairs: list[tuple[float, bool]]) -> None:
    conf = [c for c, _ in pairs]
    ok = [o for _, o in pairs]
    rows = reliability(conf, ok, [0.0, 0.25, 0.5, 0.75, 1.0])
    assert [r["n_accepted"] for r in rows] == sorted((r["n_accepted"] for r in rows), reverse=True)
    assert rows[0]["n_accepted"] == len(conf)


def test_fit_learns_that_a_close_alternative_of_another_length_means_wrong() -> None:
    rng = random.Random(3)
    rows, labels = [], []
    for _ in range(600):
        right = rng.random() < 0.8
        # Wrong reads: the weakest character is just as sharp, but another length scores nearly as well.
        feats = plate_features(
            min_char=rng.uniform(0.9, 1.0),
            logp=-rng.uniform(0.1, 1.0),
            n_chars=8,
            margin=rng.uniform(3, 12) if right else rng.uniform(0, 2),
            raw_margin=1.0,
            len_margin=rng.uniform(4, 12) if right else rng.uniform(0, 1.5),
            two_rows=False,
            geometry={"aspect_top": 4.3},
        )
        rows.append(feats)
        labels.append(right)
    cal = fit(rows, labels)
    pred = np.array([cal.predict(r) for r in rows])
    y = np.array(labels)
    assert pred[y].mean() > 0.9 and pred[~y].mean() < 0.2
    again = Calibrator.from_json(cal.to_json())
    assert math.isclose(again.predict(rows[0]), cal.predict(rows[0]), abs_tol=1e-5)


def test_features_see_a_row_with_too_few_characters_for_its_width() -> None:
    good = plate_features(min_char=0.99, logp=-0.5, n_chars=8, margin=8, raw_margin=8, len_margin=8,
                          two_rows=False, geometry={"aspect_top": 4.6})  # fmt: skip
    short = plate_features(min_char=0.99, logp=-0.5, n_chars=7, margin=8, raw_margin=8, len_margin=8,
                           two_rows=False, geometry={"aspect_top": 6.5})  # fmt: skip
    assert short["density_dev"] > good["density_dev"] + 0.2


def test_plate_colour_of_rendered_plates() -> None:
    # render_plate takes RGB and returns BGR.
    for rgb, name in (((255, 255, 255), "white"), ((250, 205, 20), "yellow"), ((20, 60, 190), "blue"),
                      ((200, 20, 20), "red")):  # fmt: skip
        img = render_plate("30A-123.45", "car", background=rgb)
        assert plate_colour(img) == name, name
