"""Fusion of two recognisers (engine "fused"): the CTC likelihood it scores candidates with, and the
reader on rendered plates and held-out photos (skipped only when the shared folder is absent)."""

from __future__ import annotations

import itertools
import math
import random
from typing import Literal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gate_agent.reading.decode import ALPHABET
from gate_agent.reading.ensemble import FUSED_FEATURES, FusedReader, ctc_logp


def _random_probs(seed: int, t: int, classes: int = 37) -> np.ndarray:
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2, size=(t, classes))
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def _collapse(path: tuple[int, ...]) -> str:
    out: list[str] = []
    prev = 0
    for k in path:
        if k != 0 and k != prev:
            out.append(ALPHABET[k - 1])
        prev = k
    return "".join(out)


def _brute_force(probs: np.ndarray, text: str, classes: list[int]) -> float:
    """Sum of the probabilities of every alignment (over ``classes``) that collapses to ``text``."""
    total = 0.0
    for path in itertools.product(classes, repeat=probs.shape[0]):
        if _collapse(path) == text:
            total += math.prod(float(probs[t, k]) for t, k in enumerate(path))
    return total


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 5), st.text(alphabet="0A1", min_size=1, max_size=3))
def test_ctc_likelihood_equals_the_sum_over_alignments(seed: int, t: int, text: str) -> None:
    # Only blank, "0", "1" and "A" carry probability: the brute force stays small (4^T paths).
    probs = _random_probs(seed, t)
    keep = [0, 1, 2, 11]
    mask = np.zeros(37)
    mask[keep] = 1
    probs = probs * mask
    probs /= probs.sum(axis=1, keepdims=True)
    expected = _brute_force(probs, text, keep)
    got = ctc_logp(probs, text)
    if expected == 0.0:
        assert got < -50  # impossible (e.g. "00" needs a blank between: T >= 3)
    else:
        assert math.isclose(math.exp(got), expected, rel_tol=1e-6)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(4, 12))
def test_likelihoods_of_all_texts_sum_to_at_most_one(seed: int, t: int) -> None:
    probs = _random_probs(seed, t)
    keep = [0, 1, 2]  # blank, "0", "1"
    mask = np.zeros(37)
    mask[keep] = 1
    probs = probs * mask
    probs /= probs.sum(axis=1, keepdims=True)
    texts = {"".join(p) for n in range(1, t + 1) for p in itertools.product("01", repeat=n) if n <= 6}
    total = sum(math.exp(ctc_logp(probs, s)) for s in texts)
    assert total <= 1.0 + 1e-9


def test_a_sharp_output_scores_its_own_text_near_one() -> None:
    text = "30A12345"
    t = 2 * len(text) + 1
    probs = np.full((t, 37), 1e-6)
    for i in range(t):
        k = 0 if i % 2 == 0 else ALPHABET.index(text[i // 2]) + 1
        probs[i, k] = 1.0
    probs /= probs.sum(axis=1, keepdims=True)
    assert ctc_logp(probs, text) > -0.01
    assert ctc_logp(probs, "30A12346") < -10
    assert ctc_logp(probs, "30A1234") < -10  # a dropped character is not explained away


@pytest.fixture(scope="module")
def fused() -> FusedReader:
    from gate_agent.reading import make_reader

    reader = make_reader("fused", threads=1)
    assert isinstance(reader, FusedReader)
    return reader


def test_fused_reader_reads_rendered_plates_with_its_features(fused: FusedReader) -> None:
    from gate_agent.reading.synth import random_plate, render_plate

    rng = random.Random(23)
    n = ok = 0
    kinds: tuple[Literal["car", "moto"], ...] = ("car", "moto")
    for kind in kinds:
        for _ in range(10):
            text = random_plate(rng, kind)
            reads = fused.read(render_plate(text, kind))
            n += 1
            if reads and reads[0].canonical == text:
                ok += 1
                assert set(FUSED_FEATURES) <= set(reads[0].features or {})
                assert 0.0 <= reads[0].confidence <= 1.0
    assert ok >= 0.8 * n, f"{ok}/{n}"
    assert fused.name == "fused"


def test_fused_is_the_default_and_ships_its_calibration() -> None:
    import json

    from gate_agent.reading import DEFAULT_ENGINE, MODELS_DIR, operating_point

    assert DEFAULT_ENGINE == "fused"
    assert (MODELS_DIR / "fused.calib.json").is_file()
    names = json.loads((MODELS_DIR / "fused.calib.json").read_text())["names"]
    assert set(names) <= set(FUSED_FEATURES)
    op = operating_point("default")
    assert op == operating_point("fused")
    assert 0.0 < op["operating_threshold"] <= op["charge_threshold"] < 1.0


def test_the_servers_charge_bar_is_at_least_the_default_engines_charge_threshold() -> None:
    # Both are on the default engine's calibrated scale: a recalibration that raises the engine's charge
    # threshold must raise the server's bar too. The server may sit higher (a safety margin above every
    # wrong read seen on the evaluation sets, docs/plate-reading.md), never lower.
    from gate_agent.reading import operating_point
    from parking.payments.settings import PaymentSettings

    bar = PaymentSettings.model_fields["linked_min_read_confidence"].default
    assert operating_point("default")["charge_threshold"] <= bar < 1.0
