"""The plate reader: frame -> plate candidates -> text lines -> grammar-constrained decoding."""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np

from gate_agent.reading.colour import plate_colour
from gate_agent.reading.confidence import Calibrator, plate_features
from gate_agent.reading.decode import (
    BOTTOM_LINE,
    CAR_LINE,
    TOP_LINE,
    Decoded,
    Layout,
    collapse_blanks,
    constrained,
)
from gate_agent.reading.detect import PlateDetector
from gate_agent.reading.engines import LineRecognizer
from gate_agent.reading.localize import (
    BBox,
    iou,
    looks_like_crop,
    normalise_contrast,
    propose,
    split_two_lines,
    text_lines,
    to_gray,
)
from gate_agent.reading.types import PlateRead
from vnplate import PROVINCE_CODES, parse, plate_category

# An image is taken as a plate crop when its characters are at least this fraction of its height
# (about 0.3 on two-line plates, 0.6 on one-line plates, under 0.1 in gate-camera frames).
_CROP_MIN_CHAR_HEIGHT = 0.18
# Reads below this are dropped as "no plate here" (the fuser applies the attendant threshold).
_MIN_CONFIDENCE = 0.05
# A read of the whole image (taken as a crop) at least this confident is not second-guessed.
_CROP_TRUSTED = 0.3
# Crops taller than this are scaled down before line finding and recognition.
_WORK_HEIGHT = 180
_MIN_WORK_HEIGHT = 72
# Aspect ratios (w/h) where a crop is tried as one line, as two lines, or both.
_ONE_LINE_MIN_ASPECT = 1.9
_TWO_LINE_MAX_ASPECT = 2.6
# A read whose weakest character is below this is retried: a squarish crop where only one row of
# characters was found is also read as two rows (glare across the top row hides its characters), and a
# frame candidate is also read from a box grown by ``_GROW`` (a box cut tight at the characters loses the
# first or last one). The read with the higher calibrated confidence is kept.
_RETRY_RAW = 0.5
_GROW = 0.12
# Retries per frame (the candidates come best first; each retry is one more crop read).
_MAX_RETRIES = 1


# A grammatical reading: norm, canonical, kind, weakest character, logp, logp without the layout priors.
_Cand = tuple[str, str, str, float, float, float]


@dataclass(frozen=True, slots=True)
class CropRead:
    norm: str
    canonical: str
    kind: str
    confidence: float
    logp: float
    features: dict[str, float] | None = None  # what the calibrated confidence sees (confidence.py)
    # The weakest character's probability. Most of the reader's own choices (is the whole image a crop,
    # which of two overlapping reads to keep) use it, so calibration mostly does not change WHAT is read.
    # Exceptions (issue 15, third pass): a retried read (grown box, two-row cut) replaces the first one
    # when its calibrated ``confidence`` is higher, and a detector read at the operating threshold skips
    # the classical search; ``training/calibrate.py`` reads without a calibrator, so for those few frames
    # its data differ from what the gate reads.
    raw: float = 0.0


def _fix_province(probs: np.ndarray, layout: Layout, dec: Decoded) -> Decoded | None:
    """Re-decode with a valid province code when the free decode produced an unassigned one (e.g. 13)."""
    if dec.text[:2] in PROVINCE_CODES:
        return dec
    best: Decoded | None = None
    for fixed_pos in (0, 1):
        keep = dec.text[fixed_pos]
        allowed = frozenset(p[1 - fixed_pos] for p in PROVINCE_CODES if p[fixed_pos] == keep)
        if not allowed:
            continue
        classes = list(layout.classes)
        classes[fixed_pos] = frozenset(keep)
        classes[1 - fixed_pos] = allowed
        alt = constrained(probs, classes)
        if alt is not None and alt.text[:2] in PROVINCE_CODES and (best is None or alt.logp > best.logp):
            best = alt
    return best


def decode_line(probs: np.ndarray, layouts: tuple[Layout, ...]) -> list[tuple[Layout, Decoded]]:
    """The best text of a line under each layout, best first; ``logp`` includes the layout's prior."""
    view = collapse_blanks(probs)
    out: list[tuple[Layout, Decoded]] = []
    for layout in layouts:
        dec = constrained(view, layout.classes)
        if dec is not None and layout.name not in ("num5", "num4"):
            dec = _fix_province(view, layout, dec)
        if dec is not None:
            text = dec.text[:2] + "M" + dec.text[3:] if layout.name == "moto_MD" else dec.text
            out.append((layout, Decoded(text, dec.logp + layout.prior, dec.char_probs)))
    out.sort(key=lambda item: -item[1].logp)
    return out


def _one_line_cands(engine: LineRecognizer, gray: np.ndarray) -> list[_Cand]:
    (probs,) = engine.line_probs([gray])
    cands: list[_Cand] = []
    for layout, dec in decode_line(probs, CAR_LINE):
        plate = parse(dec.text, kind_hint="car")
        if plate is not None and plate.kind == "car":
            cands.append((plate.norm, plate.canonical, "car", dec.confidence, dec.logp, dec.logp - layout.prior))
    return cands


def _two_line_cands(engine: LineRecognizer, top: np.ndarray, bottom: np.ndarray) -> list[_Cand]:
    p_top, p_bottom = engine.line_probs([top, bottom])
    tops = decode_line(p_top, TOP_LINE)
    bottoms = decode_line(p_bottom, BOTTOM_LINE)
    combos = sorted(((t, b) for t in tops for b in bottoms), key=lambda tb: -(tb[0][1].logp + tb[1][1].logp))
    cands: list[_Cand] = []
    for (t_layout, t_dec), (b_layout, b_dec) in combos:
        kind = "car" if t_layout.name.startswith("car") else "moto"
        plate = parse(t_dec.text + b_dec.text, kind_hint=kind)
        if plate is None or plate.kind != kind:
            continue
        logp = t_dec.logp + b_dec.logp
        conf = min(t_dec.confidence, b_dec.confidence)
        cands.append((plate.norm, plate.canonical, kind, conf, logp, logp - t_layout.prior - b_layout.prior))
    return cands


def grow_box(box: BBox, frac: float, shape: tuple[int, ...]) -> BBox:
    """``box`` grown by ``frac`` of its width on the left and right and of its height above and below,
    clipped to the frame (``shape``: height, width, ...)."""
    x, y, w, h = box
    dx, dy = max(1, round(w * frac)), max(1, round(h * frac))
    x0, y0 = max(0, x - dx), max(0, y - dy)
    x1, y1 = min(shape[1], x + w + dx), min(shape[0], y + h + dy)
    return (x0, y0, x1 - x0, y1 - y0)


def choose_reads(found: list[tuple[CropRead, BBox, bool]]) -> list[tuple[CropRead, BBox]]:
    """One read per plate, from every crop's read (read, box, read on a retry's grown box).

    Reads overlapping each other are the same plate seen through several crops, often with a character
    more or less; so are repeated texts. Of these, the text that most crops read directly wins (a dropped
    digit in one crop does not outvote two crops that read the plate whole), then a direct read before a
    retry's, then the weakest character's probability. The result is ordered by that probability, best
    first; reads under ``_MIN_CONFIDENCE`` are dropped as "no plate here".
    """
    reads = [(r, box, retried) for r, box, retried in found if r.raw >= _MIN_CONFIDENCE]

    def support(r: CropRead, box: BBox) -> int:
        return sum(1 for o, obox, o_retried in reads if not o_retried and o.norm == r.norm and iou(box, obox) > 0.3)

    ranked = sorted(reads, key=lambda rbr: (-support(rbr[0], rbr[1]), rbr[2], -rbr[0].raw))
    kept: list[tuple[CropRead, BBox]] = []
    for r, box, _ in ranked:
        if any(r.norm == k.norm or iou(box, kbox) > 0.3 for k, kbox in kept):
            continue
        kept.append((r, box))
    kept.sort(key=lambda rb: -rb[0].raw)
    return kept


class PipelineReader:
    """Reads plates with any ``LineRecognizer``; see docs/plate-reading.md for the method.

    With a ``second`` engine, every line is also read by it and whether both engines agree on the plate
    becomes one more feature of the calibrated confidence (the text is always the first engine's).
    """

    def __init__(
        self,
        engine: LineRecognizer,
        calibrator: Calibrator | None = None,
        detector: PlateDetector | None = None,
        ranker: Calibrator | None = None,
        second: LineRecognizer | None = None,
    ) -> None:
        self.engine = engine
        self.second = second
        self.detector = detector  # the trained plate detector (detect.py), tried before the classical search
        self.ranker = ranker  # re-ranks the classical candidates (training/ranker.py)
        # Maps a read's structural features to P(read is right); None: the weakest character's probability.
        self.calibrator = calibrator
        # Once a detector box gives a read at least this confident (make_reader: the engine's calibrated
        # operating threshold), the classical candidates are not searched: one vehicle at a time at a gate,
        # and the search costs ~40 % of a frame's time. None: always search.
        self.skip_classical_at: float | None = None

    def _finish(self, cands: list[_Cand], geometry: dict[str, float]) -> CropRead | None:
        """The best grammatical candidate with its features. ``cands``: (norm, canonical, kind, min char
        probability, logp, logp without layout priors), best first, already grammar-checked."""
        if not cands:
            return None
        norm, canonical, kind, min_char, logp, raw = cands[0]
        alt = next((c for c in cands[1:] if c[0] != norm), None)
        alt_len = next((c for c in cands[1:] if len(c[0]) != len(norm)), None)
        feats = plate_features(
            min_char=min_char,
            logp=logp,
            n_chars=len(norm),
            margin=logp - alt[4] if alt else None,
            raw_margin=raw - alt[5] if alt else None,
            len_margin=logp - alt_len[4] if alt_len else None,
            two_rows=kind == "moto" or geometry.get("two_rows", 0.0) > 0,
            geometry=geometry,
        )
        conf = self.calibrator.predict(feats) if self.calibrator is not None else min_char
        return CropRead(norm, canonical, kind, conf, logp, feats, min_char)

    @property
    def name(self) -> str:
        return self.engine.name + (f"+{self.second.name}" if self.second is not None else "")

    def _one_line(self, gray: np.ndarray) -> CropRead | None:
        h, w = gray.shape[:2]
        geometry = {"aspect_top": w / max(1, h)}
        cands = _one_line_cands(self.engine, gray)
        if self.second is not None and cands:
            other = _one_line_cands(self.second, gray)
            geometry["engines_agree"] = 1.0 if other and other[0][0] == cands[0][0] else 0.0
        return self._finish(cands, geometry)

    def _two_lines(self, top: np.ndarray, bottom: np.ndarray) -> CropRead | None:
        cands = _two_line_cands(self.engine, top, bottom)
        geometry = {
            "two_rows": 1.0,
            "aspect_top": top.shape[1] / max(1, top.shape[0]),
            "aspect_bottom": bottom.shape[1] / max(1, bottom.shape[0]),
            "width_ratio": bottom.shape[1] / max(1, top.shape[1]),
        }
        if self.second is not None and cands:
            other = _two_line_cands(self.second, top, bottom)
            geometry["engines_agree"] = 1.0 if other and other[0][0] == cands[0][0] else 0.0
        return self._finish(cands, geometry)

    def read_crop(self, crop: np.ndarray, whole_image: bool = False) -> CropRead | None:
        """Read one plate crop. With ``whole_image``, give up unless the characters are big enough for
        the image to be a plate crop rather than a scene (then the caller looks for plates in it)."""
        gray = to_gray(crop)
        if 8 <= gray.shape[0] < _MIN_WORK_HEIGHT:
            # Tiny crops (94x24 plates): enlarge before finding characters, so that blobs and cuts are
            # not a pixel or two off.
            scale = _MIN_WORK_HEIGHT / gray.shape[0]
            gray = cv2.resize(
                gray, (max(1, round(gray.shape[1] * scale)), _MIN_WORK_HEIGHT), interpolation=cv2.INTER_CUBIC
            )
        if gray.shape[0] > _WORK_HEIGHT:
            # The recogniser sees 48-64 px high lines: analysing a bigger crop only costs time.
            scale = _WORK_HEIGHT / gray.shape[0]
            gray = cv2.resize(gray, (max(1, round(gray.shape[1] * scale)), _WORK_HEIGHT), interpolation=cv2.INTER_AREA)
        gray = normalise_contrast(gray)
        h, w = gray.shape[:2]
        if h < 8 or w < 16:
            return None
        lines = text_lines(gray, _CROP_MIN_CHAR_HEIGHT if whole_image else 0.0)
        if whole_image and lines is None:
            return None
        if lines is not None and len(lines) == 2:
            return self._two_lines(lines[0], lines[1])
        if lines is not None and len(lines) == 1 and lines[0].shape[1] >= 2.5 * lines[0].shape[0]:
            one = self._one_line(lines[0])
            # Not for a whole image taken as a crop: cut in two at a light band, a scene reads as anything.
            if (one is None or one.raw < _RETRY_RAW) and w / h < _TWO_LINE_MAX_ASPECT and not whole_image:
                two = self._two_lines(*split_two_lines(gray))
                if two is not None and (one is None or two.confidence > one.confidence):
                    return two
            return one
        # No clear rows of characters: fall back on the crop's shape.
        aspect = w / h
        reads: list[CropRead] = []
        if aspect >= _ONE_LINE_MIN_ASPECT:
            r = self._one_line(gray)
            if r is not None:
                reads.append(r)
        if aspect < _TWO_LINE_MAX_ASPECT:
            r = self._two_lines(*split_two_lines(gray))
            if r is not None:
                reads.append(r)
        return max(reads, key=lambda r: r.raw) if reads else None

    def _read_boxes(
        self, frame: np.ndarray, boxes: list[BBox], retries: list[int]
    ) -> list[tuple[CropRead, BBox, bool]]:
        """Read each box of ``frame``; a weak read is retried on the grown box while ``retries[0]`` lasts.
        Each read comes with its box and whether it is the retry's."""
        out: list[tuple[CropRead, BBox, bool]] = []
        for box in boxes:
            x, y, bw, bh = box
            r = self.read_crop(frame[y : y + bh, x : x + bw])
            retried = False
            if (r is None or r.raw < _RETRY_RAW) and retries[0] > 0:
                retries[0] -= 1
                big = grow_box(box, _GROW, frame.shape)
                if big != box:
                    gx, gy, gw, gh = big
                    r2 = self.read_crop(frame[gy : gy + gh, gx : gx + gw])
                    if r2 is not None and (r is None or r2.confidence > r.confidence):
                        r, box, retried = r2, big, True
            if r is not None:
                out.append((r, box, retried))
        return out

    def read(self, frame_bgr: np.ndarray) -> list[PlateRead]:
        t0 = time.perf_counter()
        if frame_bgr.size == 0 or min(frame_bgr.shape[:2]) < 8:
            return []
        found: list[tuple[CropRead, BBox, bool]] = []
        h, w = frame_bgr.shape[:2]
        if looks_like_crop(frame_bgr):
            r = self.read_crop(frame_bgr, whole_image=True)
            if r is not None:
                found.append((r, (0, 0, w, h), False))
        # A weak read of the whole image may be text that is not a plate (a timestamp overlay): then
        # look for plates inside it too.
        if not found or found[0][0].raw < _CROP_TRUSTED:
            retries = [_MAX_RETRIES]
            det_boxes: list[BBox] = []
            if self.detector is not None:
                # The trained detector's boxes first; the classical candidates still run after them
                # (they find plates the detector misses, e.g. in frames far larger than its training scenes)
                # unless the detector's boxes already gave a sure read.
                det_boxes = [b for b, _ in self.detector.boxes(frame_bgr)]
                found += self._read_boxes(frame_bgr, det_boxes, retries)
            # (The threshold is on the calibrated scale: without a calibrator, always search.)
            sure = self.skip_classical_at if self.calibrator is not None else None
            if sure is None or not any(r.confidence >= sure for r, _, _ in found):
                boxes = [
                    c.bbox
                    for c in propose(frame_bgr, ranker=self.ranker)
                    if not any(iou(c.bbox, b) > 0.6 for b in det_boxes)
                ]
                found += self._read_boxes(frame_bgr, boxes, retries)
        kept = choose_reads(found)
        latency = (time.perf_counter() - t0) * 1000.0
        out: list[PlateRead] = []
        for r, box in kept:
            x, y, bw, bh = box
            ok, jpeg = cv2.imencode(".jpg", frame_bgr[y : y + bh, x : x + bw], [cv2.IMWRITE_JPEG_QUALITY, 85])
            out.append(
                PlateRead(
                    text_norm=r.norm,
                    canonical=r.canonical,
                    confidence=round(r.confidence, 4),
                    kind=r.kind,
                    bbox=box,
                    crop_jpeg=jpeg.tobytes() if ok else None,
                    engine=self.engine.name,
                    latency_ms=latency,
                    features=r.features,
                    category=plate_category(r.norm, plate_colour(frame_bgr[y : y + bh, x : x + bw])),
                )
            )
        return out
