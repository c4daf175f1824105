"""Find plates in a frame and cut a plate crop into text lines (classical OpenCV, no model).

A gate camera sees one vehicle at a time at a known distance, so a learned detector is not needed for
the first version: Vietnamese plates are dark characters on a light (white/yellow) background, and a
row of four or more similar, dark, upright blobs is a strong cue. Candidates are proposed here and the
reader keeps the one whose text fits the plate grammar best.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

BBox = tuple[int, int, int, int]  # x, y, w, h
# How far (in character heights) a line is extended past its outer blobs to catch a character merged
# with the border; see text_lines.
REACH = 0.6
_BORDER_DARK = 0.75


def to_gray(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        return img
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2GRAY)
    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)


def looks_like_crop(frame: np.ndarray) -> bool:
    """True when the image is probably already a tight plate crop (small, plate-shaped)."""
    h, w = frame.shape[:2]
    aspect = w / max(h, 1)
    return (0.8 <= aspect <= 6.0) and max(h, w) <= 1000


def normalise_contrast(gray: np.ndarray) -> np.ndarray:
    """Stretch the 2nd..98th percentile to 0..255 (photos under gate lights are often washed out)."""
    lo, hi = np.percentile(gray, (2, 98))
    if hi - lo < 10:
        return gray
    out = (gray.astype(np.float32) - lo) * (255.0 / (hi - lo))
    return np.clip(out, 0, 255).astype(np.uint8)


def _dark_text_mask(gray: np.ndarray) -> np.ndarray:
    """Binary mask of dark strokes on a light background (Otsu on a lightly blurred image)."""
    blur = cv2.GaussianBlur(gray, (3, 3), 0)
    _, mask = cv2.threshold(blur, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    return mask


def split_two_lines(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cut a two-line plate at the lightest row band between 30% and 70% of its height."""
    h = gray.shape[0]
    mask = _dark_text_mask(gray)
    w = mask.shape[1]
    # Ignore the side borders, which are dark on every row.
    inner = mask[:, int(w * 0.08) : int(w * 0.92)]
    profile = inner.mean(axis=1)
    profile = np.convolve(profile, np.ones(max(1, h // 30)) / max(1, h // 30), mode="same")
    lo, hi = int(h * 0.3), int(h * 0.7)
    cut = lo + int(np.argmin(profile[lo:hi])) if hi > lo else h // 2
    pad = max(1, h // 25)
    top = gray[: min(h, cut + pad)]
    bottom = gray[max(0, cut - pad) :]
    return top, bottom


def _components(mask: np.ndarray) -> list[BBox]:
    """Character-like blobs of a binary crop: not the plate border, not screws or dots."""
    hh, ww = mask.shape[:2]
    # Remove the plate border (long straight strokes) first: a character touching it would otherwise
    # merge with it into one big blob and be dropped, losing the first digit of a line.
    kv = cv2.getStructuringElement(cv2.MORPH_RECT, (1, max(3, int(hh * 0.85))))
    kh = cv2.getStructuringElement(cv2.MORPH_RECT, (max(3, int(ww * 0.45)), 1))
    border = cv2.bitwise_or(cv2.morphologyEx(mask, cv2.MORPH_OPEN, kv), cv2.morphologyEx(mask, cv2.MORPH_OPEN, kh))
    border = cv2.dilate(border, np.ones((3, 3), np.uint8))
    mask = cv2.subtract(mask, border)
    near_border = cv2.dilate(border, np.ones((5, 5), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    out: list[BBox] = []
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        if h < max(6, 0.15 * hh) or h > 0.92 * hh or w > 0.3 * ww:
            continue
        if not 0.08 <= w / h <= 1.2:
            continue
        if area < 0.12 * w * h:
            continue
        # A thin sliver left beside the removed border is a piece of the border, not a "1".
        if w < 0.35 * h and near_border[y : y + h, x : x + w].any():
            continue
        out.append((x, y, w, h))
    return out


def _rows(boxes: list[BBox]) -> list[list[BBox]]:
    """Group blobs of similar height into text rows by their vertical centre."""
    if not boxes:
        return []
    med = float(np.median([b[3] for b in boxes]))
    boxes = [b for b in boxes if 0.6 * med <= b[3] <= 1.5 * med]
    boxes.sort(key=lambda b: b[1] + b[3] / 2)
    rows: list[list[BBox]] = []
    for b in boxes:
        cy = b[1] + b[3] / 2
        if rows and abs(cy - np.mean([r[1] + r[3] / 2 for r in rows[-1]])) < 0.5 * med:
            rows[-1].append(b)
        else:
            rows.append([b])
    return [r for r in rows if len(r) >= 2]


def _best_rows(gray: np.ndarray) -> list[list[BBox]] | None:
    best: list[list[BBox]] | None = None
    for mask in (_dark_text_mask(gray), _adaptive_mask(gray)):
        rows = _rows(_components(mask))
        # Keep at most two rows: the two with most characters, in top-to-bottom order.
        rows = sorted(sorted(rows, key=len, reverse=True)[:2], key=lambda r: min(b[1] for b in r))
        if rows and (best is None or sum(map(len, rows)) > sum(map(len, best))):
            best = rows
    if not best or sum(map(len, best)) < 4:
        return None
    return best


def _row_angle(row: list[BBox]) -> float:
    """Tilt of a text row in degrees, from a least-squares line through the blobs' centres."""
    if len(row) < 3:
        return 0.0
    xs = np.array([b[0] + b[2] / 2 for b in row], dtype=np.float64)
    ys = np.array([b[1] + b[3] / 2 for b in row], dtype=np.float64)
    if np.ptp(xs) < 1:
        return 0.0
    slope = np.polyfit(xs, ys, 1)[0]
    return float(np.degrees(np.arctan(slope)))


def text_lines(gray: np.ndarray, min_char_height: float = 0.0, reach: float = REACH) -> list[np.ndarray] | None:
    """Cut a plate crop into its text lines, levelled and tight around the characters.

    The recogniser misreads characters next to the plate's black border (``51G`` -> ``610``) and on
    tilted lines, so the crop is rotated level and each line is cut around its own character blobs.
    Returns None when no row of characters is found.
    """
    rows = _best_rows(gray)
    if rows is None:
        return None
    # Characters small compared with the image: this is a scene, not a plate crop.
    if np.median([b[3] for r in rows for b in r]) < min_char_height * gray.shape[0]:
        return None
    angle = _row_angle(max(rows, key=len))
    if abs(angle) > 1.0:
        hh, ww = gray.shape[:2]
        m = cv2.getRotationMatrix2D((ww / 2, hh / 2), angle, 1.0)
        gray = cv2.warpAffine(gray, m, (ww, hh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        rows = _best_rows(gray) or rows
    hh, ww = gray.shape[:2]
    lines: list[np.ndarray] = []
    for row in rows:
        x0 = min(b[0] for b in row)
        y0 = int(np.median([b[1] for b in row]))
        x1 = max(b[0] + b[2] for b in row)
        y1 = int(np.median([b[1] + b[3] for b in row]))
        ch = max(1, y1 - y0)
        py = round(0.05 * ch) + 1
        ya, yb = max(0, y0 - py), min(hh, y1 + py)
        # A character merged with the border is not in the row: look up to ~one character further out
        # on each side, but stop at the border (a column dark over most of the line's height).
        reach_px = round(reach * ch)
        band = gray[ya:yb]
        _, dark = cv2.threshold(band, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
        frac = dark.mean(axis=0)
        xa = max(0, x0 - reach_px)
        for x in range(x0 - 1, xa - 1, -1):
            if frac[x] > _BORDER_DARK:
                xa = x + 1
                break
        xb = min(ww, x1 + reach_px)
        for x in range(x1, xb):
            if frac[x] > _BORDER_DARK:
                xb = x
                break
        lines.append(band[:, xa:xb])
    return lines


def _adaptive_mask(gray: np.ndarray) -> np.ndarray:
    block = max(11, (min(gray.shape[:2]) // 4) | 1)
    return cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, block, 5)


@dataclass(frozen=True, slots=True)
class Candidate:
    bbox: BBox
    two_line: bool | None  # None when the shape does not tell
    score: float = 0.0  # blobs in its rows (the classical ranking)


def _char_boxes(gray: np.ndarray) -> list[BBox]:
    """Connected components shaped like plate characters (upright, a few times taller than wide)."""
    boxes: list[BBox] = []
    h_img = gray.shape[0]
    for block in (15, 31):
        mask = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, block, 7)
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        for i in range(1, n):
            x, y, w, h, area = (int(v) for v in stats[i])
            if h < 8 or h > h_img * 0.5:
                continue
            ratio = w / h
            if not 0.15 <= ratio <= 1.0:
                continue
            fill = area / (w * h)
            if not 0.15 <= fill <= 0.9:
                continue
            boxes.append((x, y, w, h))
    return boxes


def candidate_features(gray: np.ndarray, cand: Candidate, rank: int) -> dict[str, float]:
    """What the candidate ranker sees: shape, size and place in the frame, contrast and stroke density."""
    hh, ww = gray.shape[:2]
    x, y, w, h = cand.bbox
    inner = gray[y : y + h, x : x + w].astype(np.float32)
    if inner.size == 0:
        inner = np.zeros((1, 1), np.float32)
    x0, y0 = max(0, x - w // 4), max(0, y - h // 2)
    ring = gray[y0 : min(hh, y + h + h // 2), x0 : min(ww, x + w + w // 4)].astype(np.float32)
    edges = np.abs(np.diff(inner, axis=1)).mean() if inner.shape[1] > 1 else 0.0
    return {
        "score": cand.score,
        "rank": float(rank),
        "two_line": {True: 1.0, False: 0.0, None: 0.5}[cand.two_line],
        "log_aspect": float(np.log(max(0.1, w / max(1, h)))),
        "log_area": float(np.log(max(1e-6, w * h / max(1, hh * ww)))),
        "cx": (x + w / 2) / max(1, ww),
        "cy": (y + h / 2) / max(1, hh),
        "mean": float(inner.mean()) / 255.0,
        "std": float(inner.std()) / 255.0,
        "contrast": (float(inner.mean()) - float(ring.mean())) / 255.0,
        "edges": float(edges) / 255.0,
    }


def propose(frame: np.ndarray, max_candidates: int = 6, ranker: Any = None) -> list[Candidate]:
    """Plate candidates in a full frame, best first: rows of similar character blobs, paired into
    two-line plates when two rows sit on top of each other. With a ``ranker`` (a ``confidence.Calibrator``
    fitted by ``training/ranker.py``), three times as many candidates are proposed and the ranker's best
    ``max_candidates`` are kept."""
    if ranker is not None:
        pool = propose(frame, 3 * max_candidates)
        gray_full = to_gray(frame)
        scored = [(ranker.predict(candidate_features(gray_full, c, i)), c) for i, c in enumerate(pool)]
        scored.sort(key=lambda sc: -sc[0])
        return [c for _, c in scored[:max_candidates]]
    gray = to_gray(frame)
    scale = 1.0
    h0, w0 = gray.shape[:2]
    if max(h0, w0) > 1280:
        scale = 1280 / max(h0, w0)
        gray = cv2.resize(gray, (round(w0 * scale), round(h0 * scale)), interpolation=cv2.INTER_AREA)
    boxes = _char_boxes(gray)
    boxes = sorted(set(boxes), key=lambda b: (b[0], b[1]))
    rows: list[list[BBox]] = []
    for b in boxes:
        x, y, _, h = b
        cy = y + h / 2
        placed = False
        for row in rows:
            rx, ry, rw, rh = row[-1]
            if (
                abs((ry + rh / 2) - cy) < 0.3 * rh
                and 0.7 <= h / rh <= 1.4
                and 0 <= x - (rx + rw) < 1.2 * rh
                and b not in row
            ):
                row.append(b)
                placed = True
                break
        if not placed:
            rows.append([b])
    lines: list[tuple[BBox, int]] = []
    for row in rows:
        if len(row) < 3:
            continue
        xs = [b[0] for b in row]
        ys = [b[1] for b in row]
        x2 = [b[0] + b[2] for b in row]
        y2 = [b[1] + b[3] for b in row]
        lines.append(((min(xs), min(ys), max(x2) - min(xs), max(y2) - min(ys)), len(row)))
    lines.sort(key=lambda item: -item[1])
    # Drop duplicate lines (two threshold block sizes find the same row).
    uniq: list[tuple[BBox, int]] = []
    for box, n in lines:
        if any(iou(box, other) > 0.5 for other, _ in uniq):
            continue
        uniq.append((box, n))
    cands: list[tuple[float, Candidate]] = []
    used: set[int] = set()
    for i, (a, na) in enumerate(uniq):
        for j, (b, nb) in enumerate(uniq):
            if i == j:
                continue
            # b right under a, similar height, overlapping horizontally -> two-line plate.
            ax, ay, aw, ah = a
            bx, by, bw, bh = b
            if -0.3 * ah <= by - (ay + ah) < 0.9 * ah and 0.6 <= bh / ah <= 1.6:
                overlap = min(ax + aw, bx + bw) - max(ax, bx)
                if overlap > 0.5 * min(aw, bw):
                    x, y = min(ax, bx), ay
                    box = (x, y, max(ax + aw, bx + bw) - x, by + bh - y)
                    cands.append((na + nb + 2.0, Candidate(_pad(box, 0.12, gray.shape), True, na + nb + 2.0)))
                    used.update({i, j})
    for i, (a, na) in enumerate(uniq):
        if na >= 6 or (na >= 3 and i not in used):
            cands.append((float(na), Candidate(_pad(a, 0.15, gray.shape), None if na < 6 else False, float(na))))
    cands.sort(key=lambda c: -c[0])
    out: list[Candidate] = []
    for _, c in cands:
        if any(iou(c.bbox, o.bbox) > 0.6 for o in out):
            continue
        out.append(c)
        if len(out) >= max_candidates:
            break
    if scale != 1.0:
        out = [
            Candidate(tuple(round(v / scale) for v in c.bbox), c.two_line, c.score)  # type: ignore[arg-type]
            for c in out
        ]
    return out


def _pad(box: BBox, frac: float, shape: tuple[int, ...]) -> BBox:
    x, y, w, h = box
    dx, dy = round(w * frac / 2) + 2, round(h * frac) + 2
    x0, y0 = max(0, x - dx), max(0, y - dy)
    x1, y1 = min(shape[1], x + w + dx), min(shape[0], y + h + dy)
    return (x0, y0, x1 - x0, y1 - y0)


def iou(a: BBox, b: BBox) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union else 0.0
