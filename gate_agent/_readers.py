"""Plate readers behind one small protocol, and the step that turns reads into vehicles.

- ``OcrReader`` wraps ``gate_agent.reading`` (RapidOCR by default, or EasyOCR; needs the ``gate`` extra),
  imported lazily so the agent's other parts work without torch.
- ``SidecarReader`` is for TESTS AND THE DEMO ONLY: it returns the plate text shipped with
  the image (labels.csv / NAME.txt), i.e. it fakes the camera edge, not our logic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from gate_agent._camera import Frame


@dataclass(frozen=True)
class Read:
    plate_norm: str  # "30A12345": what the server and the cache compare
    plate_display: str  # "30A-123.45": what the event carries and the kiosk shows
    confidence: float
    kind: str | None = None  # e.g. "moto_2line", "car_1line"
    crop_jpeg: bytes | None = None


class Reader(Protocol):
    def read(self, frame: Frame) -> list[Read]: ...


def normalise(text: str) -> str:
    return re.sub(r"[^0-9A-Z]", "", text.upper())


class SidecarReader:
    """TEST/DEMO ONLY. Never the default: production reads plates with OCR."""

    def read(self, frame: Frame) -> list[Read]:
        if not frame.label:
            return []
        kind = frame.label_kind
        if kind is None:
            # Two-line motorbike plates are written with a space ("59-N1 014.25").
            kind = "moto_2line" if " " in frame.label.strip() else "car_1line"
        return [Read(normalise(frame.label), frame.label.strip(), 1.0, kind)]


_KINDS = {"car": "car_1line", "moto": "moto_2line"}


def _read_from(obj: Any) -> Read | None:
    """Map a ``PlateRead`` or ``FusedPlate`` of ``gate_agent.reading`` to our ``Read``.

    A fused "attendant" result (the vote stayed under the threshold) is kept, with its best guess if it has
    one and its crop, so the lane still sends an event and the server calls the attendant.
    """
    from gate_agent.reading import FusedPlate, PlateRead

    if isinstance(obj, PlateRead):
        return Read(obj.text_norm, obj.canonical, obj.confidence, _KINDS.get(obj.kind, obj.kind), obj.crop_jpeg)
    if isinstance(obj, FusedPlate):
        kind = _KINDS.get(obj.plate_kind or "", obj.plate_kind)
        if obj.kind == "attendant":
            return Read(obj.text_norm or "", obj.canonical or "", obj.confidence, kind, obj.crop_jpeg)
        if not obj.text_norm:
            return None
        return Read(obj.text_norm, obj.canonical or obj.text_norm, obj.confidence, kind, obj.crop_jpeg)
    raise TypeError(f"not a plate read: {type(obj).__name__}")


class OcrReader:
    """The real reader. ``engine``/``threads`` are passed to ``gate_agent.reading.make_reader``."""

    def __init__(self, engine: str = "default", threads: int = 1) -> None:
        from gate_agent.reading import make_reader  # lazy: needs the `gate` extra

        self._reader = make_reader(engine=engine, threads=threads)

    def read(self, frame: Frame) -> list[Read]:
        out = []
        for r in self._reader.read(frame.image):
            rr = _read_from(r)
            if rr is not None:
                out.append(rr)
        return out

    def raw(self, frame: Frame) -> list[Any]:
        return list(self._reader.read(frame.image))


class VehicleSplitter:
    """Turns per-frame reads into one plate per vehicle.

    A folder of photos has one vehicle per frame: take the best read. A video stream sees
    the same vehicle in many frames: fuse them with the reader's FrameFuser (voting over
    ``fusion_window_s``) when available, else keep the best read per window."""

    def __init__(self, fusion_window_s: float, use_reading_fuser: bool, accept: float = 0.6) -> None:
        self.window = fusion_window_s
        self._fuser: Any = None
        if use_reading_fuser:
            from gate_agent.reading import FrameFuser

            # ``accept``: the lane's reader.min_confidence (the engine's shipped operating point).
            self._fuser = FrameFuser(window_s=fusion_window_s, accept=accept)
        self._best: Read | None = None
        self._since: float | None = None

    def add(self, frame: Frame, reads: list[Read], raw: list[Any] | None = None) -> list[Read]:
        best = max(reads, key=lambda r: r.confidence) if reads else None
        if frame.discrete:
            return [best] if best else []
        if self._fuser is not None and raw is not None:
            out: list[Read] = []
            for r in raw:
                fused = self._fuser.add(r, frame.mono)
                if fused is not None and (rr := _read_from(fused)) is not None:
                    out.append(rr)
            return out
        return self._window(best, frame.mono)

    def _window(self, best: Read | None, t: float) -> list[Read]:
        # Fallback fusion: the most confident read of a burst of frames, emitted once the burst
        # has lasted ``window`` (a car waits at the barrier: do not wait for it to leave the
        # view) or the plate has left the view. A car still in view afterwards is the same
        # vehicle, caught by the dedup window.
        if best is not None and self._best is not None and best.plate_norm != self._best.plate_norm:
            out = self.flush(t)  # another vehicle: settle the previous one first
            self._best, self._since = best, t
            return out
        if best is not None:
            if self._best is None or best.confidence > self._best.confidence:
                self._best = best
            self._since = t if self._since is None else self._since
            if t - self._since >= self.window:
                return self.flush(t)
            return []
        return self.flush(t)

    def flush(self, t: float) -> list[Read]:
        if self._fuser is not None:
            fused = self._fuser.flush(t)
            items = fused if isinstance(fused, list) else ([fused] if fused is not None else [])
            return [rr for f in items if (rr := _read_from(f)) is not None]
        if self._best is not None:
            out, self._best, self._since = [self._best], None, None
            return out
        return []


def make_reader(engine: str, threads: int) -> Reader:
    if engine == "sidecar":
        return SidecarReader()
    return OcrReader(engine=engine, threads=threads)
