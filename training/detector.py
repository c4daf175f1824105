"""Train the small plate detector (centre heatmap + box size, one class) on vn-train scenes; export ONNX.

    python -m training.detector --data ../shared/datasets/vn-train --out gate_agent/reading/models/plates.onnx

A CenterNet-style single-class detector: the frame is letterboxed to 224 x 352 (grey), a small CNN
(stride 8) predicts for every cell the probability that a plate centre lies there, the sub-cell offset
and the log box size. All scene boxes are class 0 ("plate"). Augmentation: random zoom/crop, brightness,
contrast, blur, noise, horizontal flip. Seeds fixed (``--seed``). The photos are read from the folder
given; nothing is copied.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from gate_agent.reading.detect import DET_H, DET_W, STRIDE, letterbox


def load_scenes(root: Path, split: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(grey image, boxes N x 4 as x0, y0, x1, y1 in pixels)."""
    out = []
    with open(root / "scenes.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["split"] != split:
                continue
            img = cv2.imread(str(root / "scenes" / row["file"]), cv2.IMREAD_GRAYSCALE)
            if img is None:
                continue
            h, w = img.shape
            boxes = []
            for item in row["boxes"].split(";"):
                p = item.split()
                if len(p) != 5:
                    continue
                cx, cy, bw, bh = (float(v) for v in p[1:])
                boxes.append([(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h])
            if boxes:
                out.append((img, np.array(boxes, dtype=np.float32)))
    return out


def augment(img: np.ndarray, boxes: np.ndarray, rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
    h, w = img.shape
    # Random crop that keeps every box (zoom in), or pad (zoom out: a smaller plate).
    if rng.random() < 0.5:
        bx0, by0 = boxes[:, 0].min(), boxes[:, 1].min()
        bx1, by1 = boxes[:, 2].max(), boxes[:, 3].max()
        x0 = rng.uniform(0, max(0.0, min(bx0, w - 1)))
        y0 = rng.uniform(0, max(0.0, min(by0, h - 1)))
        x1 = rng.uniform(min(w, bx1), w)
        y1 = rng.uniform(min(h, by1), h)
        if x1 - x0 > 32 and y1 - y0 > 32:
            img = img[int(y0) : math.ceil(y1), int(x0) : math.ceil(x1)]
            boxes = boxes - np.array([int(x0), int(y0), int(x0), int(y0)], dtype=np.float32)
    elif rng.random() < 0.4:
        p = int(max(h, w) * rng.uniform(0.1, 0.8))
        img = cv2.copyMakeBorder(img, p // 2, p // 2, p // 2, p // 2, cv2.BORDER_REPLICATE)
        boxes = boxes + p // 2
    if rng.random() < 0.5:
        img = img[:, ::-1].copy()
        ww = img.shape[1]
        boxes = np.stack([ww - boxes[:, 2], boxes[:, 1], ww - boxes[:, 0], boxes[:, 3]], axis=1)
    out: Any = img.astype(np.float32)
    out = out * rng.uniform(0.5, 1.3) + rng.uniform(-40, 40)
    if rng.random() < 0.25:
        out = 255.0 * (np.clip(out, 0, 255) / 255.0) ** rng.uniform(1.3, 2.5)
    if rng.random() < 0.25:
        out = cv2.GaussianBlur(out, (5, 5), rng.uniform(0.5, 1.8))
    if rng.random() < 0.3:
        out = out + np.random.default_rng(rng.randint(0, 2**31)).normal(0, rng.uniform(2, 10), out.shape)
    return np.clip(out, 0, 255).astype(np.uint8), boxes


def targets(boxes: np.ndarray, scale: float, ox: int, oy: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Heatmap (gh x gw), regression (4 x gh x gw: dx, dy, log w, log h in cells) and its mask."""
    gh, gw = DET_H // STRIDE, DET_W // STRIDE
    heat = np.zeros((gh, gw), np.float32)
    reg = np.zeros((4, gh, gw), np.float32)
    mask = np.zeros((gh, gw), np.float32)
    yy, xx = np.mgrid[0:gh, 0:gw].astype(np.float32)
    for x0, y0, x1, y1 in boxes:
        bx0, by0, bx1, by1 = x0 * scale + ox, y0 * scale + oy, x1 * scale + ox, y1 * scale + oy
        bw, bh = (bx1 - bx0) / STRIDE, (by1 - by0) / STRIDE
        if bw < 0.5 or bh < 0.25:
            continue
        cx, cy = (bx0 + bx1) / 2 / STRIDE, (by0 + by1) / 2 / STRIDE
        ix, iy = int(min(gw - 1, max(0, cx))), int(min(gh - 1, max(0, cy)))
        sx, sy = max(0.6, bw / 4), max(0.6, bh / 4)
        heat = np.maximum(heat, np.exp(-(((xx - cx + 0.5) / sx) ** 2 + ((yy - cy + 0.5) / sy) ** 2) / 2))
        heat[iy, ix] = 1.0
        reg[:, iy, ix] = (cx - ix, cy - iy, math.log(bw), math.log(bh))
        mask[iy, ix] = 1.0
    return heat, reg, mask


def build_model():
    import torch
    from torch import nn

    def block(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
        return [
            nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        ]

    class Det(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                *block(1, 16, 2),  # 112 x 176
                *block(16, 24, 2),  # 56 x 88
                *block(24, 24),
                *block(24, 48, 2),  # 28 x 44
                *block(48, 48),
                *block(48, 64),
                nn.Conv2d(64, 64, 3, padding=2, dilation=2, bias=False),
                nn.BatchNorm2d(64),
                nn.ReLU(inplace=True),
            )
            self.heat = nn.Conv2d(64, 1, 1)
            self.reg = nn.Conv2d(64, 4, 1)
            nn.init.constant_(self.heat.bias, -2.2)  # type: ignore[arg-type]

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 5, gh, gw): heat prob + regression
            f = self.body(x)
            return torch.cat([torch.sigmoid(self.heat(f)), self.reg(f)], dim=1)

    return Det()


def batch(items: list[tuple[np.ndarray, np.ndarray]]):
    import torch

    xs, hs, rs, ms = [], [], [], []
    for img, boxes in items:
        x, scale, ox, oy = letterbox(img)
        h, r, m = targets(boxes, scale, ox, oy)
        xs.append(x)
        hs.append(h)
        rs.append(r)
        ms.append(m)
    return (
        torch.from_numpy(np.stack(xs)[:, None]),
        torch.from_numpy(np.stack(hs)),
        torch.from_numpy(np.stack(rs)),
        torch.from_numpy(np.stack(ms)),
    )


def loss_fn(out, heat, reg, mask):
    import torch

    p = out[:, 0].clamp(1e-4, 1 - 1e-4)
    pos = heat.eq(1).float()
    # CenterNet focal loss.
    pos_loss = -(torch.log(p) * (1 - p) ** 2 * pos).sum()
    neg_loss = -(torch.log(1 - p) * p**2 * (1 - heat) ** 4 * (1 - pos)).sum()
    n = pos.sum().clamp(min=1)
    l_reg = (torch.abs(out[:, 1:] - reg) * mask[:, None]).sum() / n
    return (pos_loss + neg_loss) / n + l_reg


def evaluate(model, val) -> float:
    """Share of val boxes whose best detection (score > 0.3) has IoU >= 0.5 with them."""
    import torch

    from gate_agent.reading.detect import decode

    model.eval()
    hit = total = 0
    with torch.inference_mode():
        for img, boxes in val:
            x, scale, ox, oy = letterbox(img)
            out = model(torch.from_numpy(x[None, None])).numpy()[0]
            dets = decode(out, scale, ox, oy, img.shape, 0.3, 5)
            for b in boxes:
                total += 1
                bb = (b[0], b[1], b[2] - b[0], b[3] - b[1])
                hit += any(_iou(bb, d[:4]) >= 0.5 for d in dets)
    model.train()
    return hit / max(1, total)


def _iou(a, b) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def export_onnx(model, path: Path) -> None:
    import torch

    model.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model,
        (torch.zeros(1, 1, DET_H, DET_W),),
        str(path),
        input_names=["frame"],
        output_names=["maps"],
        dynamic_axes={"frame": {0: "batch"}, "maps": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    model.train()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=Path("../shared/datasets/vn-train"))
    ap.add_argument("--out", type=Path, default=Path("gate_agent/reading/models/plates.onnx"))
    ap.add_argument("--ckpt", type=Path, default=Path("training/runs/plates.pt"))
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--eval-every", type=int, default=300)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(1)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    train = load_scenes(args.data, "train")
    val = load_scenes(args.data, "val")
    print(json.dumps({"train_scenes": len(train), "val_scenes": len(val)}), flush=True)
    model = build_model()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.1)
    args.ckpt.parent.mkdir(parents=True, exist_ok=True)
    best = -1.0
    t0 = time.time()
    avg = 0.0
    for step in range(args.steps):
        items = [augment(*rng.choice(train), rng) for _ in range(args.batch)]
        x, heat, reg, mask = batch(items)
        loss = loss_fn(model(x), heat, reg, mask)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
        avg = 0.95 * avg + 0.05 * loss.item() if step else loss.item()
        if (step + 1) % 25 == 0:
            print(json.dumps({"step": step + 1, "loss": round(avg, 4), "s": round(time.time() - t0, 1)}), flush=True)
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            rec = evaluate(model, val)
            improved = rec > best
            torch.save(model.state_dict(), args.ckpt)
            if improved:
                best = rec
                torch.save(model.state_dict(), args.ckpt.with_suffix(".best.pt"))
                export_onnx(model, args.out)
            print(json.dumps({"step": step + 1, "val_recall_iou50": round(rec, 4), "best": improved}), flush=True)
    print(json.dumps({"done": True, "best_val_recall_iou50": best, "onnx": str(args.out)}))


if __name__ == "__main__":
    main()
