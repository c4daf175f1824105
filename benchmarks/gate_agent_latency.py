"""Frame -> barrier-command latency of the lane, server reachable and not. Prints one JSON.

    .venv/bin/python benchmarks/gate_agent_latency.py --frames 60 [--reader sidecar|default]

The server is the test fake (tests/factories/fake_gate_server.py) on 127.0.0.1, so "online"
includes a real HTTP round trip on loopback but no server-side database work; "offline" is
the server port closed (connection refused, the lane decides from its cache). Frames are the
shared photos (vn-plates) when present, else generated noise images with labels.csv.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # repo root: the test fakes live in tests/

from gate_agent._agent import GateAgent
from gate_agent.config import parse_config
from tests.factories.fake_gate_server import TOKEN, FakeGateServer, wait_for
from tests.factories.gate_agent import make_plate_folder, plates

SHARED = Path(os.environ.get("PARKING_DATASETS_DIR", Path(__file__).resolve().parents[2] / "shared" / "datasets"))


def frames_folder(tmp: Path, n: int) -> tuple[Path, str]:
    src = SHARED / "vn-plates"
    if (src / "labels.csv").is_file():
        folder = tmp / "frames"
        folder.mkdir()
        with (src / "labels.csv").open() as fh:
            rows = list(csv.DictReader(fh))[:n]
        with (folder / "labels.csv").open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["file", "plate_text", "plate_kind"])
            w.writeheader()
            for r in rows:
                (folder / r["file"]).symlink_to(src / r["file"])
                w.writerow({"file": r["file"], "plate_text": r["plate_text"], "plate_kind": r["plate_kind"]})
        return folder, "shared vn-plates"
    return make_plate_folder(tmp / "frames", plates(n)), "generated noise images"


def run(folder: Path, tmp: Path, reader: str, online: bool, n: int) -> dict[str, Any]:
    server = FakeGateServer()
    if online:
        server.start()
    mode = "online" if online else "offline"
    cfg: dict[str, object] = {
        "lane": {"server_url": server.url, "token": TOKEN, "lane_code": "BENCH", "direction": "entry"},
        "camera": {"source": f"folder:{folder}", "fps": 10.0, "loop": False},
        "reader": {"engine": reader, "dedup_window_s": 0.0},
        "barrier": {"driver": "simulated", "open_ms": 50},
        "display": {"enabled": False},
        "queue": {"path": str(tmp / f"q-{reader}-{mode}.sqlite")},
        "heartbeat": {"interval_s": 1.0},
    }
    agent = GateAgent(parse_config(cfg))
    t = threading.Thread(target=agent.run, daemon=True)
    t.start()
    try:
        wait_for(lambda: agent.source_done.is_set(), timeout=600)
        summary = agent.latency.summary()[mode]
        summary["events"] = len(agent.store.all())
    finally:
        agent.stop.set()
        t.join(timeout=20)
        server.stop()
    return summary


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--reader", default="sidecar", help="sidecar (no OCR) or default (EasyOCR)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        folder, what = frames_folder(tmp, args.frames)
        out = {
            "benchmark": "gate_agent frame->barrier latency (ms)",
            "reader": args.reader,
            "frames": args.frames,
            "frames_from": what,
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "online": run(folder, tmp, args.reader, True, args.frames),
            "offline": run(folder, tmp, args.reader, False, args.frames),
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
