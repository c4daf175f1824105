from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.factories.fake_gate_server import TOKEN, FakeGateServer


@pytest.fixture
def server() -> Iterator[FakeGateServer]:
    s = FakeGateServer()
    s.start()
    yield s
    s.stop()


@pytest.fixture
def lane_config(tmp_path: Path) -> Callable[..., dict[str, dict[str, Any]]]:
    def make(server_url: str, folder: Path, direction: str = "entry", **over: dict[str, Any]) -> dict[str, Any]:
        cfg: dict[str, dict[str, Any]] = {
            "lane": {
                "server_url": server_url,
                "token": TOKEN,
                "lane_code": f"L-{direction}",
                "direction": direction,
                "vehicle_class": "auto",
                "decision_timeout_s": 2.0,
                "pay_timeout_s": 10.0,
                "session_poll_s": 0.3,
                "cache_refresh_s": 0.5,
            },
            "camera": {"source": f"folder:{folder}", "fps": 20.0, "loop": False},
            "reader": {"engine": "sidecar", "min_confidence": 0.6, "dedup_window_s": 20.0},
            "barrier": {
                "driver": "simulated",
                "open_ms": 50,
                "state_file": str(tmp_path / f"barrier-{direction}.jsonl"),
            },
            "display": {"enabled": True, "host": "127.0.0.1", "port": 0},
            "queue": {"path": str(tmp_path / f"queue-{direction}.sqlite"), "max_backoff_s": 1.0},
            "heartbeat": {"interval_s": 0.3},
        }
        for section, values in over.items():
            cfg.setdefault(section, {}).update(values)
        return cfg

    return make
