from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from gate_agent._camera import FolderSource, OpenCVSource, make_source
from tests.factories.gate_agent import make_plate_folder, plates


def _take(src: FolderSource | OpenCVSource, n: int, timeout: float = 10.0) -> list[str]:
    stop = threading.Event()
    out = []
    deadline = time.monotonic() + timeout
    for f in src.frames(stop):
        out.append(f.name)
        if len(out) >= n or time.monotonic() > deadline:
            break
    return out


def test_folder_replays_all_images_in_order_with_labels(tmp_path: Path) -> None:
    folder = make_plate_folder(tmp_path / "f", plates(5))
    src = FolderSource(folder, fps=100, loop=False)
    stop = threading.Event()
    frames = list(src.frames(stop))
    assert [f.name for f in frames] == [f"img_{i:03d}.png" for i in range(5)]
    assert [f.label for f in frames] == plates(5)
    assert all(f.discrete and f.image.ndim == 3 and f.captured_at.tzinfo is not None for f in frames)
    assert src.stats.frames_ok == 5 and src.stats.frames_bad == 0


def test_same_seed_same_order_so_exit_replays_entry(tmp_path: Path) -> None:
    folder = make_plate_folder(tmp_path / "f", plates(12))
    entry = _take(FolderSource(folder, fps=500, loop=False, order_seed=7), 12)
    exit_ = _take(FolderSource(folder, fps=500, loop=False, order_seed=7, offset_s=0.2), 12)
    other = _take(FolderSource(folder, fps=500, loop=False, order_seed=8), 12)
    assert entry == exit_ and sorted(entry) == sorted(other) and entry != other


def test_offset_delays_the_first_frame(tmp_path: Path) -> None:
    folder = make_plate_folder(tmp_path / "f", plates(1))
    t0 = time.monotonic()
    _take(FolderSource(folder, fps=100, loop=False, offset_s=0.5), 1)
    assert time.monotonic() - t0 >= 0.5


def test_corrupt_empty_and_uniform_frames_are_skipped_and_counted(tmp_path: Path) -> None:
    folder = make_plate_folder(tmp_path / "f", plates(2))
    (folder / "img_900.jpg").write_bytes(b"")  # empty
    (folder / "img_901.jpg").write_bytes(b"\xff\xd8\xff garbage")  # corrupt
    from PIL import Image

    Image.fromarray(np.zeros((20, 40, 3), dtype=np.uint8)).save(folder / "img_902.png")  # all black
    src = FolderSource(folder, fps=200, loop=False)
    names = [f.name for f in src.frames(threading.Event())]
    assert names == ["img_000.png", "img_001.png"]
    assert src.stats.frames_ok == 2 and src.stats.frames_bad == 3


def test_loop_and_resume_position(tmp_path: Path) -> None:
    folder = make_plate_folder(tmp_path / "f", plates(3))
    src = FolderSource(folder, fps=500, loop=True)
    frames = []
    for f in src.frames(threading.Event()):
        frames.append(f)
        if len(frames) == 5:
            break
    assert [f.name for f in frames] == [
        "img_000.png",
        "img_001.png",
        "img_002.png",
        "img_000.png",
        "img_001.png",
    ]
    assert frames[-1].cursor is not None and frames[-1].cursor[1] == 4
    resumed = FolderSource(folder, fps=500, loop=False, start_after=0)
    assert [f.name for f in resumed.frames(threading.Event())] == ["img_001.png", "img_002.png"]


def test_sidecar_txt_wins_over_labels_csv(tmp_path: Path) -> None:
    folder = make_plate_folder(tmp_path / "f", plates(1))
    (folder / "img_000.txt").write_text("29-B1 123.45\n")
    (f,) = list(FolderSource(folder, fps=100, loop=False).frames(threading.Event()))
    assert f.label == "29-B1 123.45"


def test_camera_that_cannot_be_opened_is_retried_with_backoff_and_reported(tmp_path: Path) -> None:
    import cv2  # noqa: F401  (the `gate` extra, installed by `make test`)

    src = OpenCVSource(f"file:{tmp_path / 'missing.mp4'}", fps=10, loop=True, reconnect_max_s=0.4)
    stop = threading.Event()
    t = threading.Thread(target=lambda: list(src.frames(stop)), daemon=True)
    t.start()
    time.sleep(1.5)
    stop.set()
    t.join(timeout=5)
    assert not src.stats.camera_ok and "cannot open camera" in (src.stats.camera_error or "")
    # backoff 0.5 s then capped at 0.4 s (+-20 % jitter): a few attempts, not a busy loop
    assert 2 <= src.stats.reconnects <= 6


def test_video_file_frames_and_reconnect_after_end(tmp_path: Path) -> None:
    import cv2

    path = tmp_path / "clip.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    rng = np.random.default_rng(0)
    for _ in range(5):
        w.write(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    w.release()
    once = make_source(f"file:{path}", fps=100, loop=False)
    assert len(list(once.frames(threading.Event()))) == 5
    looped = make_source(f"file:{path}", fps=100, loop=True)
    got = _take(looped, 12)
    assert len(got) == 12  # the file was reopened after its end
    assert looped.stats.frames_ok == 12 and looped.stats.fps() > 0
