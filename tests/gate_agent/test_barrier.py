from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from gate_agent._barrier import BarrierError, HttpRelayBarrier, SimulatedBarrier
from tests.factories.fake_gate_server import wait_for


class FakeRelay:
    """A networked relay board as a real HTTP server: records each switch request."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.fail = False

        async def relay(request: Request) -> PlainTextResponse:
            self.calls.append(str(request.url.path) + "?" + request.url.query)
            if self.fail:
                return PlainTextResponse("err", status_code=500)
            return PlainTextResponse("ok")

        app = Starlette(routes=[Route("/relay/0", relay, methods=["GET", "POST"])])
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve(sockets=[sock])), daemon=True)
        self.thread.start()
        assert wait_for(lambda: self.server.started)


@pytest.fixture
def relay() -> Iterator[FakeRelay]:
    r = FakeRelay()
    yield r
    r.server.should_exit = True
    r.thread.join(timeout=5)


def test_simulated_barrier_records_and_closes_itself(tmp_path: Path) -> None:
    b = SimulatedBarrier(open_ms=100, state_file=str(tmp_path / "b.jsonl"))
    b.open("server", "e1")
    assert b.state == "open"
    assert wait_for(lambda: b.state == "closed", timeout=3)
    rows = [json.loads(x) for x in (tmp_path / "b.jsonl").read_text().splitlines()]
    assert [(r["state"], r["event_id"]) for r in rows] == [("open", "e1"), ("closed", "e1")]


def test_http_relay_opens_then_closes(relay: FakeRelay) -> None:
    base = f"http://127.0.0.1:{relay.port}/relay/0"
    b = HttpRelayBarrier(f"{base}?turn=on", close_url=f"{base}?turn=off", open_ms=100)
    b.open("server", "e1")
    assert b.state == "open" and relay.calls == ["/relay/0?turn=on"]
    assert wait_for(lambda: b.state == "closed", timeout=3)
    assert relay.calls == ["/relay/0?turn=on", "/relay/0?turn=off"]
    b.close()


def test_http_relay_failure_is_an_error_after_one_retry(relay: FakeRelay) -> None:
    relay.fail = True
    b = HttpRelayBarrier(f"http://127.0.0.1:{relay.port}/relay/0?turn=on&timer=3", method="POST")
    t0 = time.monotonic()
    with pytest.raises(BarrierError):
        b.open("server")
    assert len(relay.calls) == 2 and time.monotonic() - t0 < 3
    assert b.state == "closed"
    b.close()


def test_lane_drives_the_relay_and_calls_the_attendant_when_it_fails(
    tmp_path: Path, relay: FakeRelay, server: Any, lane_config: Any
) -> None:
    from gate_agent._agent import GateAgent
    from gate_agent.config import parse_config
    from tests.factories.gate_agent import make_plate_folder, plates

    ps = plates(2)
    folder = make_plate_folder(tmp_path / "frames", ps)
    base = f"http://127.0.0.1:{relay.port}/relay/0"
    cfg = lane_config(
        server.url,
        folder,
        barrier={"driver": "http_relay", "url": f"{base}?turn=on&timer=1", "state_file": None},
        camera={"fps": 2.0},
    )
    agent = GateAgent(parse_config(cfg))
    assert isinstance(agent.barrier, HttpRelayBarrier)
    t = threading.Thread(target=agent.run, daemon=True)
    t.start()
    try:
        assert wait_for(lambda: relay.calls == ["/relay/0?turn=on&timer=1"])
        relay.fail = True  # the second car meets a broken relay
        assert wait_for(lambda: agent.display.snapshot()["lines"] == ["Barrier fault"])
        assert wait_for(lambda: agent.store.depth() == 0)
        assert [e.status for e in agent.store.all()] == ["acked", "acked"]  # the events are not lost
    finally:
        agent.stop.set()
        t.join(timeout=10)
