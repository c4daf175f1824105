"""Our own plate detector at the gate: a small CenterNet-style CNN in ONNX (numpy + OpenCV + onnxruntime).

Trained by ``training/detector.py`` on vn-train scenes. The frame is letterboxed to 224 x 352 grey; the
model outputs, per 8 x 8 cell, the probability of a plate centre, the centre's offset in the cell and the
log box size in cells. Peaks over a threshold, after a 3 x 3 max-pool suppression, are the plates.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from gate_agent.reading.localize import BBox

DET_H, DET_W, STRIDE = 224, 352, 8


def letterbox(gray: np.ndarray) -> tuple[np.ndarray, float, int, int]:
    """The grey frame scaled into DET_H x DET_W (aspect kept, grey padding), in [-1, 1]; scale and offset."""
    if gray.ndim == 3:
        gray = cv2.cvtColor(gray, cv2.COLOR_BGR2GRAY)
    h, w = gray.shape[:2]
    scale = min(DET_W / w, DET_H / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    img = cv2.resize(gray, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    out = np.full((DET_H, DET_W), 0.0, np.float32)
    ox, oy = (DET_W - nw) // 2, (DET_H - nh) // 2
    out[oy : oy + nh, ox : ox + nw] = img.astype(np.float32) / 127.5 - 1.0
    return out, scale, ox, oy


def decode(
    maps: np.ndarray, scale: float, ox: int, oy: int, shape: tuple[int, ...], threshold: float, top_k: int
) -> list[tuple[float, float, float, float, float]]:
    """(x, y, w, h, score) boxes in frame pixels, best first, from the model's (5, gh, gw) output."""
    heat = maps[0]
    pooled = cv2.dilate(heat, np.ones((3, 3), np.uint8))
    peaks = np.argwhere((heat >= pooled) & (heat >= threshold))
    order = sorted(((float(heat[y, x]), int(y), int(x)) for y, x in peaks), reverse=True)[:top_k]
    out = []
    fh, fw = shape[:2]
    for score, y, x in order:
        dx, dy, lw, lh = maps[1:, y, x]
        cx, cy = (x + dx) * STRIDE, (y + dy) * STRIDE
        bw, bh = float(np.exp(np.clip(lw, -3, 5))) * STRIDE, float(np.exp(np.clip(lh, -3, 5))) * STRIDE
        x0, y0 = (cx - bw / 2 - ox) / scale, (cy - bh / 2 - oy) / scale
        x1, y1 = (cx + bw / 2 - ox) / scale, (cy + bh / 2 - oy) / scale
        x0, y0, x1, y1 = max(0.0, x0), max(0.0, y0), min(float(fw), x1), min(float(fh), y1)
        if x1 - x0 >= 4 and y1 - y0 >= 4:
            out.append((x0, y0, x1 - x0, y1 - y0, score))
    return out


class PlateDetector:
    """Runs ``models/plates.onnx``; ``boxes(frame)`` gives padded plate boxes, best first."""

    def __init__(self, path: Path, threads: int = 1, threshold: float = 0.25, top_k: int = 4) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self.threshold, self.top_k = threshold, top_k

    def boxes(self, frame: np.ndarray, pad: float = 0.08) -> list[tuple[BBox, float]]:
        x, scale, ox, oy = letterbox(frame)
        maps = self._session.run(None, {self._input: x[None, None]})[0][0]
        out: list[tuple[BBox, float]] = []
        fh, fw = frame.shape[:2]
        for bx, by, bw, bh, score in decode(maps, scale, ox, oy, frame.shape, self.threshold, self.top_k):
            px, py = bw * pad, bh * pad * 2
            x0, y0 = max(0, round(bx - px)), max(0, round(by - py))
            x1, y1 = min(fw, round(bx + bw + px)), min(fh, round(by + bh + py))
            out.append(((x0, y0, x1 - x0, y1 - y0), score))
        return out
