"""Fusion of two line recognisers (engine "fused"): both read every row, and the plate is chosen by both.

Each engine decodes each row under the grammar (``decode_line``); the candidate plates are the union of
both engines' grammatical readings (for two-row plates, every top row with every bottom row). Every
candidate is then scored by the **CTC likelihood of its text under each engine's output** (the forward
algorithm sums over all alignments, so it needs no common time axis between the engines) plus the layout
prior: a product of experts. When the engines agree, the common text usually wins by a wide margin; when
they disagree, the text the other engine also finds likely wins, and the margin is small. The calibrated
confidence (``confidence.Calibrator`` fitted by ``training/calibrate.py --engine fused``) sees the
agreement, the fused margin, each engine's posterior of the chosen text among the candidates and the
row geometry.

The CTC forward pass is hand-written (numpy, a dozen lines): onnxruntime has no CTC loss operator and
torch is not a gate dependency.
"""

from __future__ import annotations

import math

import numpy as np

from gate_agent.reading.confidence import Calibrator, plate_features
from gate_agent.reading.decode import ALPHABET, BOTTOM_LINE, CAR_LINE, TOP_LINE, Layout
from gate_agent.reading.detect import PlateDetector
from gate_agent.reading.engines import LineRecognizer
from gate_agent.reading.reader import CropRead, PipelineReader, decode_line
from vnplate import parse

_INDEX = {c: i + 1 for i, c in enumerate(ALPHABET)}  # 0 = CTC blank
_CAP = 12.0
# The electric series' narrow "M" is often seen as one of these (decode writes "M" whatever was read).
_M_VARIANTS = ("M", "H", "N", "K")

FUSED_FEATURES = (
    "agree",
    "margin",
    "len_margin",
    "post_a",
    "post_b",
    "log_min_char",
    "mean_log_char",
    "two_rows",
    "density_dev",
    "width_ratio_dev",
)


def ctc_logp(probs: np.ndarray, text: str) -> float:
    """log P(text | CTC output ``probs``), T x (1 + 36) over blank + 0-9A-Z, summed over alignments."""
    logp = np.log(np.maximum(probs, 1e-30))
    labels = [_INDEX[c] for c in text]
    ext = np.zeros(2 * len(labels) + 1, dtype=np.intp)
    ext[1::2] = labels
    s_len = len(ext)
    # A character may follow the one two states back unless it repeats it (then a blank must separate).
    skip = np.zeros(s_len, dtype=bool)
    skip[3::2] = ext[3::2] != ext[1:-2:2]
    alpha = np.full(s_len, -np.inf)
    alpha[0] = logp[0, 0]
    if s_len > 1:
        alpha[1] = logp[0, ext[1]]
    for t in range(1, logp.shape[0]):
        prev1 = np.concatenate([[-np.inf], alpha[:-1]])
        prev2 = np.where(skip, np.concatenate([[-np.inf, -np.inf], alpha[:-2]]), -np.inf)
        alpha = np.logaddexp(np.logaddexp(alpha, prev1), prev2) + logp[t, ext]
    tail = alpha[-2:] if s_len > 1 else alpha[-1:]
    return float(np.logaddexp.reduce(tail))


def _row_score(probs: np.ndarray, text: str, layout: Layout) -> float:
    if layout.name == "moto_MD":
        return max(ctc_logp(probs, text[:2] + m + text[3:]) for m in _M_VARIANTS)
    return ctc_logp(probs, text)


# One row's candidate readings: text -> (layout, weakest character's probability or 0 if unseen).
_RowCands = dict[str, tuple[Layout, float]]


def _row_cands(per_engine: list[np.ndarray], layouts: tuple[Layout, ...]) -> tuple[_RowCands, list[str]]:
    """The union of the engines' grammatical readings of one row, and each engine's best text."""
    cands: _RowCands = {}
    tops: list[str] = []
    for probs in per_engine:
        decoded = decode_line(probs, layouts)
        tops.append(decoded[0][1].text if decoded else "")
        for layout, dec in decoded:
            old = cands.get(dec.text)
            if old is None or dec.confidence > old[1]:
                cands[dec.text] = (layout, dec.confidence)
    return cands, tops


def _log_posterior(scores: list[float], i: int) -> float:
    return max(-_CAP, scores[i] - float(np.logaddexp.reduce(np.array(scores))))


class FusedReader(PipelineReader):
    """``PipelineReader`` whose rows are read by two engines and whose plate is chosen by both (module doc)."""

    def __init__(
        self,
        engine: LineRecognizer,
        second: LineRecognizer,
        calibrator: Calibrator | None = None,
        detector: PlateDetector | None = None,
        ranker: Calibrator | None = None,
    ) -> None:
        super().__init__(engine, calibrator=calibrator, detector=detector, ranker=ranker, second=second)
        self.other = second

    @property
    def name(self) -> str:
        return "fused"

    def _fuse(self, rows: list[np.ndarray], layouts: list[tuple[Layout, ...]], kind_hint: str) -> CropRead | None:
        probs_a = self.engine.line_probs(rows)
        probs_b = self.other.line_probs(rows)
        per_row = [_row_cands([pa, pb], lays) for pa, pb, lays in zip(probs_a, probs_b, layouts, strict=True)]
        # Every combination of row readings that is a plate of the expected kind.
        combos: list[tuple[str, str, str, list[str]]] = []  # norm, canonical, kind, row texts
        row_texts = [list(c) for c, _ in per_row]
        grid = [[t] for t in row_texts[0]]
        for more in row_texts[1:]:
            grid = [[*g, t] for g in grid for t in more]
        for texts in grid:
            layout0 = per_row[0][0][texts[0]][0]
            kind = "car" if kind_hint == "car" or layout0.name.startswith("car") else "moto"
            plate = parse("".join(texts), kind_hint=kind)
            if plate is None or plate.kind != kind or plate.category == "military":
                continue
            text = "".join(texts)
            if layout0.name == "moto_MD":
                text = text[:2] + "M" + text[3:]
                plate = parse(text, kind_hint=kind)
                if plate is None:
                    continue
            combos.append((plate.norm, plate.canonical, kind, texts))
        if not combos:
            return None
        # Each row text is scored once per engine (a two-row plate has ~10 x 4 combinations of ~14 texts).
        row_a = [
            {t: _row_score(p, t, lay) for t, (lay, _) in c.items()} for p, (c, _) in zip(probs_a, per_row, strict=True)
        ]
        row_b = [
            {t: _row_score(p, t, lay) for t, (lay, _) in c.items()} for p, (c, _) in zip(probs_b, per_row, strict=True)
        ]
        score_a: list[float] = []
        score_b: list[float] = []
        fused: list[float] = []
        for _, _, _, texts in combos:
            sa = sum(r[t] for r, t in zip(row_a, texts, strict=True))
            sb = sum(r[t] for r, t in zip(row_b, texts, strict=True))
            prior = sum(c[t][0].prior for t, (c, _) in zip(texts, per_row, strict=True))
            score_a.append(sa)
            score_b.append(sb)
            fused.append(sa + sb + prior)
        best = int(np.argmax(fused))
        norm, canonical, kind, texts = combos[best]
        others = [f for i, f in enumerate(fused) if combos[i][0] != norm]
        other_len = [f for i, f in enumerate(fused) if len(combos[i][0]) != len(norm)]
        top_a = "".join(tops[0] for _, tops in per_row)
        top_b = "".join(tops[1] for _, tops in per_row)
        # The weakest character of the engine(s) whose own decoding produced this row.
        raw = min(c[t][1] for t, (c, _) in zip(texts, per_row, strict=True))
        geometry: dict[str, float] = {"aspect_top": rows[0].shape[1] / max(1, rows[0].shape[0])}
        if len(rows) == 2:
            geometry.update(
                two_rows=1.0,
                aspect_bottom=rows[1].shape[1] / max(1, rows[1].shape[0]),
                width_ratio=rows[1].shape[1] / max(1, rows[0].shape[1]),
            )
        base = plate_features(
            min_char=raw,
            logp=(score_a[best] + score_b[best]) / 2,
            n_chars=len(norm),
            margin=None,
            raw_margin=None,
            len_margin=None,
            two_rows=len(rows) == 2,
            geometry=geometry,
        )
        feats = {
            "agree": 1.0 if top_a == top_b else 0.0,
            "margin": min(_CAP, fused[best] - max(others)) if others else _CAP,
            "len_margin": min(_CAP, fused[best] - max(other_len)) if other_len else _CAP,
            "post_a": _log_posterior(score_a, best),
            "post_b": _log_posterior(score_b, best),
            **{k: base[k] for k in ("log_min_char", "mean_log_char", "two_rows", "density_dev", "width_ratio_dev")},
        }
        conf = self.calibrator.predict(feats) if self.calibrator is not None else _uncalibrated(feats)
        return CropRead(norm, canonical, kind, conf, fused[best], feats, raw)

    def _one_line(self, gray: np.ndarray) -> CropRead | None:
        return self._fuse([gray], [CAR_LINE], "car")

    def _two_lines(self, top: np.ndarray, bottom: np.ndarray) -> CropRead | None:
        return self._fuse([top, bottom], [TOP_LINE, BOTTOM_LINE], "two_rows")


def _uncalibrated(feats: dict[str, float]) -> float:
    """Before a calibrator is fitted: the weakest character, halved when the engines disagree."""
    return math.exp(feats["log_min_char"]) * (1.0 if feats["agree"] else 0.5)
