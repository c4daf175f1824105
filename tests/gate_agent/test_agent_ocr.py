"""The lane with the REAL plate reader (EasyOCR, the `gate` extra) on the shared photos."""

from __future__ import annotations

import base64
import csv
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.factories.fake_gate_server import FakeGateServer, wait_for

pytestmark = [pytest.mark.gate, pytest.mark.timeout(240)]

DATASET = Path(os.environ.get("PARKING_DATASETS_DIR", Path(__file__).parents[3] / "shared" / "datasets"))
PLATES = DATASET / "vn-plates"


def test_real_reader_events_match_what_the_reader_reads(
    tmp_path: Path, server: FakeGateServer, lane_config: Any
) -> None:
    import cv2
    import easyocr  # noqa: F401

    if not (PLATES / "labels.csv").is_file():
        pytest.skip(f"shared photos not present at {PLATES}")
    from gate_agent._agent import GateAgent
    from gate_agent.config import parse_config
    from gate_agent.reading import make_reader

    folder = tmp_path / "frames"
    folder.mkdir()
    with (PLATES / "labels.csv").open() as fh:
        names = [r["file"] for r in csv.DictReader(fh)][:6]
    for name in names:  # links, not copies: the photos never leave the shared folder
        (folder / name).symlink_to(PLATES / name)

    reader = make_reader()
    expected: dict[str, Any] = {}
    for name in names:
        reads = reader.read(cv2.imread(str(folder / name)))
        if reads:
            expected[name] = max(reads, key=lambda r: r.confidence)
    assert expected, "the reader read none of the sample photos"

    cfg = lane_config(server.url, folder, reader={"engine": "default"}, camera={"fps": 5.0})
    agent = GateAgent(parse_config(cfg))
    t = threading.Thread(target=agent.run, daemon=True)
    t.start()
    try:
        assert wait_for(lambda: agent.source_done.is_set() and agent.store.depth() == 0, timeout=120)
        events = agent.store.all()
        hb = agent.heartbeat_payload()
    finally:
        agent.stop.set()
        t.join(timeout=20)
    want = {r.canonical for r in expected.values()}
    assert {e.body["plate"] for e in events} == want
    by_plate = {r.canonical: r for r in expected.values()}
    for e in events:
        r = by_plate[e.body["plate"]]
        assert e.body["confidence"] == pytest.approx(r.confidence, abs=1e-3)
        assert e.body["vehicle_class"] == ("motorbike" if r.kind == "moto" else "car_small")
        # A doubtful read goes with its crop so the server/attendant can look at it.
        if r.confidence < 0.6 and r.crop_jpeg:
            assert base64.b64decode(e.body["image_jpeg_b64"]) == r.crop_jpeg
        else:
            assert "image_jpeg_b64" not in e.body
    assert hb["latency_ms"]["online"]["n"] == len(events)
