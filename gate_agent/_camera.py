"""Frame sources behind one interface.

- ``FolderSource``: a folder of images replayed at a set rate (the demo lot and the tests).
- ``OpenCVSource``: RTSP/HTTP URL, USB camera index or video file through OpenCV, with
  reconnect-with-backoff when the camera drops (issue #4, point 8).

Corrupt or empty frames are skipped and counted, never passed to the reader.
"""

from __future__ import annotations

import csv
import io
import random
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import structlog

log = structlog.get_logger("gate_agent.camera")

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


@dataclass
class Frame:
    image: np.ndarray  # BGR, as OpenCV gives it
    captured_at: datetime  # tz-aware UTC
    mono: float  # time.monotonic() at capture: start of the frame->barrier latency
    name: str = ""
    # Demo/test only: the plate text shipped with the image (labels.csv or NAME.txt).
    label: str | None = None
    label_kind: str | None = None
    # Folder replay position, persisted with the event so a restart resumes after it.
    cursor: tuple[str, int] | None = None
    # True when each frame is a different vehicle (folder of photos), False for video.
    discrete: bool = False


@dataclass
class CameraStats:
    frames_ok: int = 0
    frames_bad: int = 0
    reconnects: int = 0
    camera_ok: bool = False
    camera_error: str | None = None
    _times: deque[float] = field(default_factory=lambda: deque(maxlen=64))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def ok(self) -> None:
        with self._lock:
            self.frames_ok += 1
            self.camera_ok = True
            self.camera_error = None
            self._times.append(time.monotonic())

    def bad(self, why: str) -> None:
        with self._lock:
            self.frames_bad += 1
        log.warning("frame_skipped", reason=why)

    def down(self, error: str) -> None:
        with self._lock:
            self.camera_ok = False
            self.camera_error = error

    def fps(self) -> float:
        """Measured rate over the recent frames (0 when the camera is silent for 5 s)."""
        with self._lock:
            ts = [t for t in self._times if t >= time.monotonic() - 10]
        if len(ts) < 2 or time.monotonic() - ts[-1] > 5:
            return 0.0
        return round((len(ts) - 1) / (ts[-1] - ts[0]), 2) if ts[-1] > ts[0] else 0.0


class FrameSource(Protocol):
    stats: CameraStats

    def frames(self, stop: threading.Event) -> Iterator[Frame]: ...

    def close(self) -> None: ...


def decode_image(data: bytes) -> np.ndarray | None:
    """Bytes -> BGR array, or None when empty/corrupt. OpenCV when the gate extra is
    installed, Pillow (a core dependency) otherwise, so the sidecar demo runs without it."""
    if not data:
        return None
    try:
        import cv2

        img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    except ImportError:
        from PIL import Image

        try:
            with Image.open(io.BytesIO(data)) as im:
                img = np.asarray(im.convert("RGB"))[:, :, ::-1].copy()
        except Exception:
            return None
    if img is None or img.size == 0 or img.shape[0] < 2 or img.shape[1] < 2:
        return None
    return img


def _frame_is_bad(img: Any) -> str | None:
    if img is None or not hasattr(img, "size") or img.size == 0:
        return "empty"
    # A dead stream often delivers uniform frames (all black / all grey).
    if float(np.ptp(img[:: max(1, img.shape[0] // 16), :: max(1, img.shape[1] // 16)])) == 0.0:
        return "uniform"
    return None


def load_labels(folder: Path, labels: str | None) -> dict[str, tuple[str, str | None]]:
    """file -> (plate_text, plate_kind) from a CSV with columns file,plate_text[,plate_kind]."""
    path = Path(labels) if labels else folder / "labels.csv"
    out: dict[str, tuple[str, str | None]] = {}
    if path.is_file():
        with path.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                name, text = row.get("file"), row.get("plate_text")
                if name and text:
                    out[name] = (text, row.get("plate_kind") or None)
    return out


def _sleep_until(deadline: float, stop: threading.Event) -> bool:
    """Interruptible sleep; False when asked to stop."""
    delay = deadline - time.monotonic()
    if delay > 0:
        return not stop.wait(delay)
    return not stop.is_set()


class FolderSource:
    """Replays image files at ``fps``. With ``order_seed`` the order is shuffled the same way
    on every lane, so an exit lane with ``offset_s`` sees the entry lane's cars later."""

    def __init__(
        self,
        folder: str | Path,
        *,
        fps: float,
        loop: bool,
        order_seed: int | None = None,
        offset_s: float = 0.0,
        labels: str | None = None,
        start_after: int | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.fps = fps
        self.loop = loop
        self.offset_s = offset_s
        self.stats = CameraStats()
        files = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if order_seed is not None:
            random.Random(order_seed).shuffle(files)
        self.files = files
        self.labels = load_labels(self.folder, labels)
        self.cursor_key = f"cursor:folder:{self.folder.resolve()}:{order_seed}"
        self.position = 0 if start_after is None else start_after + 1

    def _label(self, path: Path) -> tuple[str | None, str | None]:
        side = path.with_suffix(".txt")
        if side.is_file():
            return (side.read_text(encoding="utf-8").strip() or None, None)
        return self.labels.get(path.name, (None, None))

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        if not self.files:
            self.stats.down(f"folder {self.folder} has no images")
            return
        self.stats.camera_ok = True
        t = time.monotonic() + self.offset_s
        period = 1.0 / self.fps
        while not stop.is_set():
            if not self.loop and self.position >= len(self.files):
                return
            if not _sleep_until(t, stop):
                return
            t = max(t + period, time.monotonic())
            pos = self.position
            self.position += 1
            path = self.files[pos % len(self.files)]
            try:
                img = decode_image(path.read_bytes())
            except OSError as exc:
                self.stats.bad(f"{path.name}: {exc}")
                continue
            why = "corrupt or empty" if img is None else _frame_is_bad(img)
            if why or img is None:
                self.stats.bad(f"{path.name}: {why}")
                continue
            self.stats.ok()
            label, label_kind = self._label(path)
            yield Frame(
                image=img,
                captured_at=datetime.now(UTC),
                mono=time.monotonic(),
                name=path.name,
                label=label,
                label_kind=label_kind,
                cursor=(self.cursor_key, pos),
                discrete=True,
            )

    def close(self) -> None:
        pass


class OpenCVSource:
    """RTSP/HTTP stream, USB index or video file. Reconnects with capped exponential backoff
    plus jitter when the camera drops, and reports it through ``stats``."""

    def __init__(self, spec: str, *, fps: float, loop: bool, reconnect_max_s: float = 30.0) -> None:
        self.spec = spec
        self.fps = fps
        self.loop = loop
        self.reconnect_max_s = reconnect_max_s
        self.stats = CameraStats()
        self._cap: Any = None
        self.is_file = spec.startswith("file:")

    def _target(self) -> str | int:
        if self.spec.startswith("usb:"):
            return int(self.spec[4:])
        if self.is_file:
            return self.spec[5:]
        return self.spec

    def _open(self) -> bool:
        import cv2

        cap = cv2.VideoCapture(self._target())
        if not cap.isOpened():
            cap.release()
            return False
        self._cap = cap
        return True

    def frames(self, stop: threading.Event) -> Iterator[Frame]:
        delay = 0.5
        period = 1.0 / self.fps
        next_t = time.monotonic()
        while not stop.is_set():
            if self._cap is None:
                if not self._open():
                    err = f"cannot open camera {self.spec}"
                    self.stats.down(err)
                    log.warning("camera_down", source=self.spec, retry_in_s=round(delay, 2))
                    if stop.wait(delay * random.uniform(0.8, 1.2)):
                        return
                    delay = min(delay * 2, self.reconnect_max_s)
                    self.stats.reconnects += 1
                    continue
                log.info("camera_up", source=self.spec)
                delay = 0.5
            ok, img = self._cap.read()
            if not ok:
                self._cap.release()
                self._cap = None
                if self.is_file and not self.loop:
                    return
                if not self.is_file:
                    self.stats.down(f"camera {self.spec} stopped delivering frames")
                continue
            why = _frame_is_bad(img)
            if why:
                self.stats.bad(why)
                continue
            now = time.monotonic()
            if now < next_t:
                # Drop frames above the configured rate (a live stream runs faster than we read).
                if not self.is_file:
                    continue
                if not _sleep_until(next_t, stop):
                    return
            next_t = max(next_t + period, time.monotonic())
            self.stats.ok()
            yield Frame(image=img, captured_at=datetime.now(UTC), mono=time.monotonic(), name=self.spec)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def make_source(
    source: str,
    *,
    fps: float,
    loop: bool,
    order_seed: int | None = None,
    offset_s: float = 0.0,
    labels: str | None = None,
    reconnect_max_s: float = 30.0,
    start_after: int | None = None,
) -> FolderSource | OpenCVSource:
    if source.startswith("folder:"):
        return FolderSource(
            source[len("folder:") :],
            fps=fps,
            loop=loop,
            order_seed=order_seed,
            offset_s=offset_s,
            labels=labels,
            start_after=start_after,
        )
    return OpenCVSource(source, fps=fps, loop=loop, reconnect_max_s=reconnect_max_s)
