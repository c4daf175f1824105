"""Train the plate line recogniser (compact CRNN + CTC) on vn-train crops and export it to ONNX.

    python -m training.recognizer --data ../shared/datasets/vn-train --out gate_agent/reading/models/lines.onnx

One sample is one *text line* of a plate: the whole crop for one-line plates without character boxes (the
94x24 LPRNet crops), else each row cut around its labelled character boxes with random margins, so that
two-row motorbike and square car plates are learnt row by row, the way the gate pipeline reads them.
Rendered lines (``synth``'s font) add rare series (two letters, ``MĐ``, ``NG``/``NN``, car special series).
The photos are read from the folder given; nothing is copied. Seeds are fixed (``--seed``).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from gate_agent.reading.lineprep import ALPHABET, LINE_H, LINE_W, prepare_line

CHAR_INDEX = {c: i + 1 for i, c in enumerate(ALPHABET)}  # 0 = CTC blank
TILT_STRONG_DEG = 3.0  # set by --tilt-strong


@dataclass
class LineSample:
    image: np.ndarray  # grey crop (whole plate)
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 of the row's characters (or the whole crop)
    text: str
    whole: bool  # the box is the whole crop (no character boxes)
    plate: str
    kind: str
    height: int  # crop height in pixels (for the size buckets)
    weight: float = 1.0


def rows_from_char_boxes(spec: str, w: int, h: int) -> list[tuple[str, tuple[int, int, int, int]]]:
    """Characters (YOLO-normalised boxes) grouped into rows by a vertical gap, each row sorted by x."""
    chars: list[tuple[str, float, float, float, float]] = []
    for item in spec.split(";"):
        parts = item.split(",")
        if len(parts) != 5:
            continue
        c, cx, cy, bw, bh = parts[0], *map(float, parts[1:])
        chars.append((c, cx * w, cy * h, bw * w, bh * h))
    if not chars:
        return []
    chars.sort(key=lambda t: t[2])
    med_h = float(np.median([t[4] for t in chars]))
    gaps = [chars[i + 1][2] - chars[i][2] for i in range(len(chars) - 1)]
    rows = [chars]
    if gaps and max(gaps) > 0.5 * med_h:
        k = int(np.argmax(gaps)) + 1
        rows = [chars[:k], chars[k:]]
    out = []
    for row in rows:
        row.sort(key=lambda t: t[1])
        x0 = min(t[1] - t[3] / 2 for t in row)
        x1 = max(t[1] + t[3] / 2 for t in row)
        y0 = min(t[2] - t[4] / 2 for t in row)
        y1 = max(t[2] + t[4] / 2 for t in row)
        out.append(("".join(t[0] for t in row), (int(x0), int(y0), math.ceil(x1), math.ceil(y1))))
    return out


def load_lines(root: Path, splits: set[str]) -> list[LineSample]:
    out: list[LineSample] = []
    with open(root / "crops.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["split"] not in splits or row["plate_kind"] == "unknown":
                continue
            if "format_ok" not in row["label_check"] and row["label_check"]:
                continue
            img = cv2.imread(str(root / "crops" / row["file"]), cv2.IMREAD_GRAYSCALE)
            if img is None:
                continue
            h, w = img.shape
            norm = row["plate_norm"]
            if row["char_boxes"]:
                rows = rows_from_char_boxes(row["char_boxes"], w, h)
                if "".join(t for t, _ in rows) != norm:
                    continue
                for text, box in rows:
                    out.append(LineSample(img, box, text, False, norm, row["plate_kind"], h))
            else:
                out.append(LineSample(img, (0, 0, w, h), norm, True, norm, row["plate_kind"], h))
    # Weight by plate: the LPRNet subset has ~20 variants of each of ~400 plates.
    counts: dict[str, int] = {}
    for s in out:
        counts[s.plate] = counts.get(s.plate, 0) + 1
    for s in out:
        s.weight = 1.0 / math.sqrt(counts[s.plate])
    return out


def init_from_onnx(model, onnx_path: Path, lines: list[np.ndarray]) -> None:
    """Warm start from a shipped ``lines.onnx`` (its training checkpoint is not committed).

    The export folded each BatchNorm into its convolution, so the folded weights go into the convolution
    and each BatchNorm is set to reproduce them: its running statistics and affine parameters are the mean
    and spread of the convolution's output on ``lines`` (real training rows), so the network computes the
    same function in eval mode and nearly the same in train mode. ONNX stores LSTM gates as i, o, f, c;
    torch as i, f, c, o.
    """
    import onnx
    import torch
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_path)).graph
    init = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    lstm = next(n for n in graph.node if n.op_type == "LSTM")
    matmul = next(n for n in graph.node if n.op_type == "MatMul")
    head_bias = next(v for k, v in init.items() if k.endswith("head.bias"))
    t = torch.from_numpy
    layers = list(model.cnn)
    conv_idx = [i for i, m in enumerate(layers) if isinstance(m, torch.nn.Conv2d)]
    assert len(conv_idx) == len(convs), "the ONNX file does not match build_model()"
    with torch.no_grad():
        x = torch.from_numpy(np.stack([prepare_line(ln) for ln in lines])[:, None])
        for i, m in enumerate(layers):
            if i in conv_idx:
                node = convs[conv_idx.index(i)]
                w, b = init[node.input[1]], init[node.input[2]]
                m.weight.copy_(t(w))
                if m.bias is not None:
                    m.bias.zero_()
                y = m(x)
                bn = layers[i + 1]
                mu = y.mean(dim=(0, 2, 3))
                sd = y.std(dim=(0, 2, 3)).clamp_min(1e-3)
                bn.running_mean.copy_(mu)
                bn.running_var.copy_(sd**2 - bn.eps)
                bn.weight.copy_(sd)
                bn.bias.copy_(mu + t(b))
                m.eval()
                bn.eval()
                x = bn(y)
            elif not isinstance(m, torch.nn.BatchNorm2d):
                x = m(x)
        hid = model.rnn.hidden_size
        w_ih, w_hh, bias = init[lstm.input[1]], init[lstm.input[2]], init[lstm.input[3]]

        def reorder(a: np.ndarray) -> torch.Tensor:
            i, o, f, c = np.split(a, 4, axis=0)
            return t(np.concatenate([i, f, c, o], axis=0).copy())

        for d, suffix in enumerate(("", "_reverse")):
            getattr(model.rnn, f"weight_ih_l0{suffix}").copy_(reorder(w_ih[d]))
            getattr(model.rnn, f"weight_hh_l0{suffix}").copy_(reorder(w_hh[d]))
            getattr(model.rnn, f"bias_ih_l0{suffix}").copy_(reorder(bias[d][: 4 * hid]))
            getattr(model.rnn, f"bias_hh_l0{suffix}").copy_(reorder(bias[d][4 * hid :]))
        model.head.weight.copy_(t(init[matmul.input[1]].T.copy()))
        model.head.bias.copy_(t(head_bias))


# --- augmentation -----------------------------------------------------------------------------------


def _cut(sample: LineSample, rng: random.Random) -> np.ndarray:
    """The row with random margins, tilt and shear (the image is padded by replication first)."""
    img = sample.image
    x0, y0, x1, y1 = sample.box
    rh = max(4, y1 - y0)
    pad = rh
    big = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    cx, cy = (x0 + x1) / 2 + pad, (y0 + y1) / 2 + pad
    if rng.random() < 0.6:
        # Mostly small tilts; sometimes a strong one (gate cameras see plates tilted by 10 degrees and more).
        angle = rng.gauss(0, 3) if rng.random() < 0.75 else rng.gauss(0, TILT_STRONG_DEG)
        shear = rng.gauss(0, 0.08)
        m = cv2.getRotationMatrix2D((cx, cy), angle, 1.0)
        m[0, 1] += shear
        m[0, 2] -= shear * cy
        big = cv2.warpAffine(big, m, (big.shape[1], big.shape[0]), borderMode=cv2.BORDER_REPLICATE)
    if sample.whole:
        ix = (x1 - x0) * 0.04
        iy = (y1 - y0) * 0.06
        l_, r_ = rng.uniform(-ix, ix), rng.uniform(-ix, ix)
        t_, b_ = rng.uniform(-iy, iy), rng.uniform(-iy, iy)
    else:
        l_, r_ = rng.uniform(-0.02, 0.6) * rh, rng.uniform(-0.02, 0.6) * rh
        t_, b_ = rng.uniform(-0.06, 0.3) * rh, rng.uniform(-0.06, 0.3) * rh
    a = round(x0 + pad - l_)
    b = round(x1 + pad + r_)
    c = round(y0 + pad - t_)
    d = round(y1 + pad + b_)
    a, c = max(0, a), max(0, c)
    b, d = min(big.shape[1], max(a + 4, b)), min(big.shape[0], max(c + 4, d))
    return big[c:d, a:b].copy()


def augment(line: np.ndarray, rng: random.Random) -> np.ndarray:
    h, w = line.shape
    out: Any = line.astype(np.float32)
    # Bolts and frame bars beside the characters (never over them: they stay at the ends).
    if rng.random() < 0.2:
        for side in (0, 1):
            if rng.random() < 0.6:
                r = max(1, int(h * rng.uniform(0.06, 0.14)))
                x = int(rng.uniform(0.0, 0.04) * w) if side == 0 else w - 1 - int(rng.uniform(0.0, 0.04) * w)
                cv2.circle(out, (x, int(h * rng.uniform(0.2, 0.8))), r, rng.uniform(0, 120), -1)
    if rng.random() < 0.15:
        t = max(1, int(h * rng.uniform(0.04, 0.1)))
        x = rng.choice([rng.randint(0, max(0, t)), w - 1 - rng.randint(0, max(0, t))])
        cv2.line(out, (x, 0), (x, h - 1), rng.uniform(0, 80), t)
    if rng.random() < 0.15:
        t = max(1, int(h * rng.uniform(0.03, 0.08)))
        y = rng.choice([rng.randint(0, t), h - 1 - rng.randint(0, t)])
        cv2.line(out, (0, y), (w - 1, y), rng.uniform(0, 80), t)
    # Night: dark, low contrast, noisy.
    if rng.random() < 0.25:
        gamma = rng.uniform(1.3, 2.8)
        out = 255.0 * (np.clip(out, 0, 255) / 255.0) ** gamma * rng.uniform(0.3, 0.8)
    # Glare: a bright blob.
    if rng.random() < 0.15:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        gx, gy = rng.uniform(0, w), rng.uniform(0, h)
        sx, sy = rng.uniform(0.1, 0.4) * w, rng.uniform(0.3, 1.0) * h
        blob = np.exp(-(((xx - gx) / sx) ** 2 + ((yy - gy) / sy) ** 2))
        out = out + blob * rng.uniform(80, 220)
    # Low resolution.
    if rng.random() < 0.4:
        th = rng.randint(9, 22)
        if th < h:
            tw = max(4, round(w * th / h))
            small = cv2.resize(np.clip(out, 0, 255), (tw, th), interpolation=cv2.INTER_AREA)
            out = cv2.resize(small, (w, h), interpolation=rng.choice([cv2.INTER_LINEAR, cv2.INTER_CUBIC]))
    if rng.random() < 0.25:
        k = rng.choice([3, 5])
        out = cv2.GaussianBlur(out, (k, k), rng.uniform(0.5, 1.5))
    if rng.random() < 0.1:  # motion blur
        k = rng.choice([3, 5, 7])
        ker = np.zeros((k, k), np.float32)
        ker[k // 2, :] = 1.0 / k
        out = cv2.filter2D(out, -1, ker)
    if rng.random() < 0.3:
        out = out + np.random.default_rng(rng.randint(0, 2**31)).normal(0, rng.uniform(2, 14), out.shape)
    out = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        ok, enc = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(20, 70)])
        if ok:
            out = cv2.imdecode(enc, cv2.IMREAD_GRAYSCALE)
    if rng.random() < 0.08:  # light text on a dark plate (blue state / red military plates in grey)
        out = 255 - out
    return out


# --- rendered lines for rare series -----------------------------------------------------------------

_RARE_TOPS = ("LD", "KT", "NG", "NN", "MD", "AA", "AB", "LA", "HC", "TD", "DA", "CD")


def rendered_line(rng: random.Random) -> tuple[np.ndarray, str]:
    from gate_agent.reading.synth import _line  # Pillow's bundled font, no download
    from vnplate import PROVINCE_CODES, SERIES_LETTERS

    prov = rng.choice(sorted(PROVINCE_CODES))
    letters = sorted(SERIES_LETTERS)
    r = rng.random()
    digits = "".join(rng.choice("0123456789") for _ in range(rng.choice((4, 5, 5))))
    num = f"{digits[:3]}.{digits[3:]}" if len(digits) == 5 else digits
    if r < 0.35:  # motorbike top row, often a two-letter or MĐ series
        series = rng.choice(_RARE_TOPS) if rng.random() < 0.6 else rng.choice(letters)
        if series == "MD" or len(series) == 1:
            series += rng.choice("123456789")
        shown, text = f"{prov}-{series}", f"{prov}{series}"
    elif r < 0.55:  # bottom row
        shown, text = num, digits
    elif r < 0.8:  # car one-line, single or special series
        series = rng.choice(letters) if rng.random() < 0.6 else rng.choice(_RARE_TOPS)
        shown, text = f"{prov}{series}-{num}", f"{prov}{series}{digits}"
    else:  # square car plate top row
        series = rng.choice(letters) if rng.random() < 0.5 else rng.choice(_RARE_TOPS)
        shown, text = f"{prov}{series}", f"{prov}{series}"
    h = rng.randint(28, 60)
    glyphs = np.asarray(_line(shown, 10_000, h))
    ink, paper = rng.uniform(0, 70), rng.uniform(150, 255)
    img: Any = paper - (255.0 - glyphs.astype(np.float32)) / 255.0 * (paper - ink)
    mx, my = int(h * rng.uniform(0.05, 0.5)), int(h * rng.uniform(0.05, 0.3))
    img = cv2.copyMakeBorder(img, my, my, mx, mx, cv2.BORDER_CONSTANT, value=float(paper))
    return np.clip(img, 0, 255).astype(np.uint8), text


# --- model ------------------------------------------------------------------------------------------


def build_model():
    import torch
    from torch import nn

    def block(cin: int, cout: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    class CRNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.cnn = nn.Sequential(
                *block(1, 24),
                nn.MaxPool2d(2),  # 16 x 80
                *block(24, 48),
                nn.MaxPool2d(2),  # 8 x 40
                *block(48, 96),
                *block(96, 96),
                nn.MaxPool2d((2, 1)),  # 4 x 40
                *block(96, 128),
                nn.Conv2d(128, 128, (4, 1)),  # 1 x 40
                nn.BatchNorm2d(128),
                nn.ReLU(inplace=True),
            )
            self.rnn = nn.LSTM(128, 96, bidirectional=True, batch_first=True)
            self.head = nn.Linear(192, 1 + len(ALPHABET))

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, 32, 160) -> (B, 40, 37) probs
            f = self.cnn(x).squeeze(2).permute(0, 2, 1)
            f, _ = self.rnn(f)
            return self.head(f)

    return CRNN()


def batch_from(samples: list[tuple[np.ndarray, str]]):
    import torch

    x = np.stack([prepare_line(img) for img, _ in samples])[:, None]
    targets = [CHAR_INDEX[c] for _, t in samples for c in t]
    lengths = [len(t) for _, t in samples]
    return torch.from_numpy(x), torch.tensor(targets, dtype=torch.long), torch.tensor(lengths, dtype=torch.long)


def greedy_text(logits_row: np.ndarray) -> str:
    best = logits_row.argmax(axis=1)
    out, prev = [], 0
    for k in best:
        if k != 0 and k != prev:
            out.append(ALPHABET[k - 1])
        prev = int(k)
    return "".join(out)


def evaluate(model, val: list[LineSample]) -> float:
    import torch

    model.eval()
    rng = random.Random(0)
    ok = 0
    with torch.inference_mode():
        for i in range(0, len(val), 128):
            chunk = val[i : i + 128]
            lines = [_cut_fixed(s) for s in chunk]
            x, _, _ = batch_from([(ln, s.text) for ln, s in zip(lines, chunk, strict=True)])
            logits = model(x).numpy()
            ok += sum(greedy_text(lg) == s.text for lg, s in zip(logits, chunk, strict=True))
    del rng
    model.train()
    return ok / max(1, len(val))


def _cut_fixed(s: LineSample) -> np.ndarray:
    """Validation cut: the row with a fixed margin of 0.2 row heights (or the whole crop)."""
    if s.whole:
        return s.image
    x0, y0, x1, y1 = s.box
    rh = y1 - y0
    m = int(0.2 * rh)
    h, w = s.image.shape
    return s.image[max(0, y0 - m // 2) : min(h, y1 + m // 2), max(0, x0 - m) : min(w, x1 + m)]


def export_onnx(model, path: Path) -> None:
    import torch

    class WithSoftmax(torch.nn.Module):
        def __init__(self, m: torch.nn.Module) -> None:
            super().__init__()
            self.m = m

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self.m(x), dim=2)

    model.eval()
    wrapped = WithSoftmax(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        wrapped,
        (torch.zeros(1, 1, LINE_H, LINE_W),),
        str(path),
        input_names=["line"],
        output_names=["probs"],
        dynamic_axes={"line": {0: "batch"}, "probs": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    model.train()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=Path("../shared/datasets/vn-train"))
    ap.add_argument("--out", type=Path, default=Path("gate_agent/reading/models/lines.onnx"))
    ap.add_argument("--ckpt", type=Path, default=Path("training/runs/lines.pt"))
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--batch", type=int, default=48)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--synth", type=float, default=0.12, help="share of rendered lines per batch")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--init-onnx", type=Path, default=None, help="warm start from a shipped lines.onnx")
    ap.add_argument("--moto-weight", type=float, default=1.0, help="sampling weight factor of two-row plates")
    ap.add_argument("--tilt-strong", type=float, default=3.0, help="std (deg) of the occasional strong tilt")
    ap.add_argument(
        "--select-on", choices=("val", "calib"), default="val",
        help="choose the best checkpoint on all validation lines, or only on the calibration half's "
        "(then the test half of the held-out plates is never looked at)",
    )  # fmt: skip
    ap.add_argument(
        "--keep", choices=("best", "last"), default="best",
        help="write to --out the checkpoint best on the selection lines, or the last one (then compare "
        "candidates on whole-pipeline reads of the calibration half, docs/model-card.md)",
    )  # fmt: skip
    args = ap.parse_args()
    global TILT_STRONG_DEG
    TILT_STRONG_DEG = args.tilt_strong

    import torch

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(1)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)

    train = load_lines(args.data, {"train"})
    val = load_lines(args.data, {"val"})
    if args.select_on == "calib":
        from gate_agent.reading.eval import holdout_part

        val = [s for s in val if holdout_part(s.plate) == "calib"]
    print(json.dumps({"train_lines": len(train), "val_lines": len(val)}), flush=True)
    weights = [s.weight * (args.moto_weight if s.kind == "moto_2line" else 1.0) for s in train]

    model = build_model()
    if args.init_onnx is not None:
        sample = rng.choices(train, weights=weights, k=512)
        init_from_onnx(model, args.init_onnx, [_cut_fixed(s) for s in sample])
        model.train()
        init_acc = evaluate(model, val)
        print(json.dumps({"init_onnx": str(args.init_onnx), "val_line_exact": round(init_acc, 4)}), flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.08)
    ctc = torch.nn.CTCLoss(blank=0, zero_infinity=True)
    start, best = 0, -1.0
    if args.init_onnx is not None:
        best = init_acc  # export only a checkpoint that beats the model it started from
    args.ckpt.parent.mkdir(parents=True, exist_ok=True)
    if args.resume and args.ckpt.exists():
        state = torch.load(args.ckpt, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        start, best = state["step"], state["best"]
        rng.setstate(state["rng"])
        if state["sched"]["total_steps"] != args.steps:
            # Resumed with another step budget (the shared CPU was slower than planned): anneal the
            # learning rate linearly from where it is to zero over the remaining steps.
            lr_now = opt.param_groups[0]["lr"]
            remaining = max(1, args.steps - start)
            for g in opt.param_groups:
                g["lr"] = g["initial_lr"] = lr_now  # LambdaLR scales initial_lr
            sched = torch.optim.lr_scheduler.LambdaLR(  # type: ignore[assignment]
                opt, lambda k: max(0.0, 1.0 - k / remaining)
            )
    t0 = time.time()
    loss_avg = 0.0
    for step in range(start, args.steps):
        n_synth = sum(rng.random() < args.synth for _ in range(args.batch))
        picked = rng.choices(train, weights=weights, k=args.batch - n_synth)
        items = [(augment(_cut(s, rng), rng), s.text) for s in picked]
        for _ in range(n_synth):
            img, text = rendered_line(rng)
            items.append((augment(img, rng), text))
        x, targets, lengths = batch_from(items)
        logits = model(x)  # B, T, C
        logp = logits.log_softmax(2).permute(1, 0, 2)
        in_len = torch.full((x.shape[0],), logp.shape[0], dtype=torch.long)
        loss = ctc(logp, targets, in_len, lengths)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
        loss_avg = 0.98 * loss_avg + 0.02 * loss.item() if step > start else loss.item()
        if (step + 1) % 50 == 0 or step - start < 30:
            print(
                json.dumps({"step": step + 1, "loss": round(loss_avg, 4), "s": round(time.time() - t0, 1)}),
                flush=True,
            )
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            acc = evaluate(model, val)
            improved = acc > best
            if improved:
                best = acc
                torch.save(model.state_dict(), args.ckpt.with_suffix(".best.pt"))
                export_onnx(model, args.out)
            torch.save(
                {
                    "model": model.state_dict(),
                    "opt": opt.state_dict(),
                    "sched": sched.state_dict(),
                    "step": step + 1,
                    "best": best,
                    "rng": rng.getstate(),
                },
                args.ckpt,
            )
            print(json.dumps({"step": step + 1, "val_line_exact": round(acc, 4), "best": improved}), flush=True)
    if args.keep == "last":
        export_onnx(model, args.out)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()[:16] if args.out.exists() else None
    print(json.dumps({"done": True, "best_val_line_exact": best, "onnx": str(args.out), "sha256_16": digest}))


if __name__ == "__main__":
    main()
