"""The lane process end to end, in-process, against the real HTTP fake of the server.

Fakes only at the edge: the camera is a folder of images (with the plate text shipped in
labels.csv, read by the test/demo-only sidecar reader) and the server is a real HTTP app."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gate_agent._agent import GateAgent
from gate_agent._barrier import SimulatedBarrier
from gate_agent.config import parse_config
from tests.factories.fake_gate_server import FakeGateServer, wait_for
from tests.factories.gate_agent import make_plate_folder, plates

pytestmark = pytest.mark.timeout(90)


class Running:
    def __init__(self, agent: GateAgent) -> None:
        self.agent = agent
        self.thread = threading.Thread(target=agent.run, daemon=True)

    def __enter__(self) -> GateAgent:
        self.thread.start()
        return self.agent

    def __exit__(self, *exc: object) -> None:
        self.agent.stop.set()
        self.thread.join(timeout=15)
        assert not self.thread.is_alive()


@pytest.fixture
def start_agent() -> Iterator[Callable[[dict[str, Any]], Running]]:
    def make(cfg: dict[str, Any]) -> Running:
        return Running(GateAgent(parse_config(cfg)))

    yield make


def _opens(agent: GateAgent) -> list[dict[str, object]]:
    assert isinstance(agent.barrier, SimulatedBarrier)
    return [h for h in agent.barrier.history if h["state"] == "open"]


def test_online_entry_every_vehicle_once(
    tmp_path: Path, server: FakeGateServer, lane_config: Any, start_agent: Any
) -> None:
    ps = plates(8)
    folder = make_plate_folder(tmp_path / "frames", ps)
    with start_agent(lane_config(server.url, folder)) as agent:
        assert wait_for(lambda: agent.source_done.is_set() and server.distinct() == 8)
        assert wait_for(lambda: len(server.heartbeats) >= 2)
        events = agent.store.all()
        kiosk = httpx.get(f"http://127.0.0.1:{agent.display.port}/state.json").json()
        hb = agent.heartbeat_payload()
    assert sorted(e.body["plate"] for e in events) == sorted(ps)
    assert all(e.status == "acked" for e in events)
    assert set(server.deliveries) == {e.event_id for e in events}
    assert all(n == 1 for n in server.deliveries.values())
    assert all(b["offline_action"] is None and b["vehicle_class"] == "car_small" for b in server.first_body.values())
    # The barrier opened once per vehicle, for that vehicle's event.
    assert sorted(str(h["event_id"]) for h in _opens(agent)) == sorted(e.event_id for e in events)
    assert kiosk["offline"] is False and kiosk["kind"] == "open" and kiosk["plate"] == events[-1].body["plate"]
    beat = server.heartbeats[-1]
    for key in (
        "fps",
        "frames_ok",
        "frames_bad",
        "camera_ok",
        "camera_error",
        "last_read",
        "queue_depth",
        "offline",
        "agent_version",
    ):
        assert key in beat
    assert hb["frames_ok"] == 8 and hb["frames_bad"] == 0 and hb["queue_depth"] == 0
    assert hb["latency_ms"]["online"]["n"] == 8 and hb["latency_ms"]["offline"]["n"] == 0


def test_offline_entry_opens_then_replays_with_same_ids(tmp_path: Path, lane_config: Any, start_agent: Any) -> None:
    server = FakeGateServer()  # not started: the server is down
    ps = plates(6)
    folder = make_plate_folder(tmp_path / "frames", ps)
    try:
        with start_agent(lane_config(server.url, folder)) as agent:
            assert wait_for(lambda: agent.source_done.is_set() and len(agent.store.all()) == 6)
            assert agent.offline and agent.display.snapshot()["offline"] is True
            queued = agent.store.all()
            assert all(e.status == "pending" and e.local_action == "opened" for e in queued)
            # The body stays as minted (the server may already hold it); the outcome is reported on its own.
            assert all(e.body["offline_action"] is None for e in queued)
            assert len(_opens(agent)) == 6  # the lane kept working
            assert agent.heartbeat_payload()["latency_ms"]["offline"]["n"] == 6
            assert agent.store.depth() == 6

            server.start()  # the link comes back
            assert wait_for(lambda: agent.store.depth() == 0, timeout=30)
            assert wait_for(lambda: not agent.display.snapshot()["offline"])
            assert wait_for(lambda: set(server.outcomes) == {e.event_id for e in queued})
            final = agent.store.all()
        assert {e.event_id for e in final} == {e.event_id for e in queued}
        assert set(server.deliveries) == {e.event_id for e in queued}
        assert all(b["offline_action"] is None for b in server.first_body.values())
        assert all(e.status == "acked" for e in final)
        assert all(n == 1 for n in server.outcomes.values())
        # Answers to old events are recorded, not acted on: no extra openings.
        assert len(_opens(agent)) == 6
    finally:
        server.stop()


def test_offline_exit_uses_the_cache(
    tmp_path: Path, server: FakeGateServer, lane_config: Any, start_agent: Any
) -> None:
    ps = plates(3)
    norm = ["".join(c for c in p if c.isalnum()) for p in ps]
    server.cache = {"passes": [norm[0]], "linked_plates": [norm[1]], "lot": {"full": {}}}
    folder = make_plate_folder(tmp_path / "frames", ps)
    cfg = lane_config(server.url, folder, "exit", camera={"offset_s": 30.0})
    with start_agent(cfg) as agent:
        assert wait_for(lambda: agent.store.kv_get("lane_cache") is not None)
        server.stop()
        assert wait_for(lambda: agent.offline)
    # restart the lane (cache persisted in the queue DB) with the server still down
    cfg["camera"]["offset_s"] = 0.0
    with start_agent(cfg) as agent:
        assert agent.cache.passes == {norm[0]}
        assert wait_for(lambda: agent.source_done.is_set() and len(agent.store.all()) == 3)
        flags = {e.body["plate"]: e.local_flags for e in agent.store.all()}
        assert all(e.local_action == "opened" for e in agent.store.all())
    assert "pass" in flags[ps[0]]
    assert "linked_account" in flags[ps[1]] and "charge_later" in flags[ps[1]]
    assert "unverified" in flags[ps[2]] and "charge_later" in flags[ps[2]]


def test_exit_pay_waits_for_open_command_or_poll(
    tmp_path: Path, server: FakeGateServer, lane_config: Any, start_agent: Any
) -> None:
    ps = plates(2)
    server.pay_plates = {"".join(c for c in p if c.isalnum()) for p in ps}
    folder = make_plate_folder(tmp_path / "frames", ps)
    with start_agent(lane_config(server.url, folder, "exit")) as agent:
        # 1st car: the payment is confirmed by an SSE "open" command.
        assert wait_for(lambda: agent.display.snapshot()["kind"] == "pay" and len(server.sessions) == 1)
        snap = agent.display.snapshot()
        assert snap["qr_payload"].startswith("000201") and snap["fee_vnd"] == 5000
        qr = httpx.get(f"http://127.0.0.1:{agent.display.port}/qr.svg")
        assert qr.status_code == 200 and qr.text.lstrip().startswith("<?xml") and "<svg" in qr.text
        assert _opens(agent) == []
        (sid1,) = server.sessions
        server.push_command({"type": "open", "session_id": sid1, "reason": "payment_confirmed"})
        assert wait_for(lambda: len(_opens(agent)) == 1)
        assert _opens(agent)[0]["reason"] == "payment_confirmed"
        # 2nd car: no command arrives; the session poll sees it paid.
        assert wait_for(lambda: len(server.sessions) == 2)
        sid2 = next(s for s in server.sessions if s != sid1)
        assert _opens(agent) and len(_opens(agent)) == 1
        server.sessions[sid2]["payment_status"] = "paid"
        assert wait_for(lambda: len(_opens(agent)) == 2)


def test_pay_timeout_calls_the_attendant(
    tmp_path: Path, server: FakeGateServer, lane_config: Any, start_agent: Any
) -> None:
    ps = plates(1)
    server.pay_plates = {"".join(c for c in ps[0] if c.isalnum())}
    folder = make_plate_folder(tmp_path / "frames", ps)
    with start_agent(lane_config(server.url, folder, "exit", lane={"pay_timeout_s": 1.0})) as agent:
        assert wait_for(lambda: agent.display.snapshot()["kind"] == "attendant")
        assert _opens(agent) == []


def test_rejected_event_is_kept_and_not_retried(
    tmp_path: Path, server: FakeGateServer, lane_config: Any, start_agent: Any
) -> None:
    ps = plates(3)
    server.reject_plates = {"".join(c for c in ps[1] if c.isalnum())}
    folder = make_plate_folder(tmp_path / "frames", ps)
    with start_agent(lane_config(server.url, folder)) as agent:
        assert wait_for(lambda: agent.source_done.is_set() and server.distinct() == 3)
        assert wait_for(lambda: len(server.heartbeats) >= 3)  # time for a (wrong) retry to happen
        by_plate = {e.body["plate"]: e for e in agent.store.all()}
    rej = by_plate[ps[1]]
    assert rej.status == "rejected" and "plate_invalid" in (rej.last_error or "")
    assert server.deliveries[rej.event_id] == 1
    assert by_plate[ps[0]].status == by_plate[ps[2]].status == "acked"
    assert len(_opens(agent)) == 2


def test_same_vehicle_seen_twice_is_one_event(
    tmp_path: Path, server: FakeGateServer, lane_config: Any, start_agent: Any
) -> None:
    ps = ["29A-111.11", "29A-111.11", "29A-222.22"]
    folder = make_plate_folder(tmp_path / "frames", ps)
    with start_agent(lane_config(server.url, folder)) as agent:
        assert wait_for(lambda: agent.source_done.is_set() and server.distinct() == 2)
        assert sorted(e.body["plate"] for e in agent.store.all()) == ["29A-111.11", "29A-222.22"]


def test_barrier_state_file_and_operator_open(
    tmp_path: Path, server: FakeGateServer, lane_config: Any, start_agent: Any
) -> None:
    folder = make_plate_folder(tmp_path / "frames", plates(1))
    cfg = lane_config(server.url, folder, camera={"offset_s": 60.0})
    with start_agent(cfg) as agent:
        assert wait_for(lambda: agent.store.kv_get("lane_cache") is not None)
        # The commands stream connects after the first cache fetch; retry the push until it lands.
        assert wait_for(
            lambda: (
                server.push_command({"type": "open", "session_id": None, "reason": "operator"}) or bool(_opens(agent))
            ),
            timeout=10,
            interval=0.5,
        )
        server.push_command({"type": "display", "display": {"title": "Lane closed", "lines": ["Use lane 2"]}})
        assert wait_for(lambda: agent.display.snapshot()["title"] == "Lane closed")
    lines = [json.loads(x) for x in Path(cfg["barrier"]["state_file"]).read_text().splitlines()]
    assert lines[0]["state"] == "open" and lines[0]["reason"] == "operator"


def test_camera_down_is_reported_in_heartbeats(
    tmp_path: Path, server: FakeGateServer, lane_config: Any, start_agent: Any
) -> None:
    import cv2  # noqa: F401  (the `gate` extra, installed by `make test`)

    cfg = lane_config(server.url, tmp_path, camera={"source": "usb:97", "reconnect_max_s": 0.5})
    with start_agent(cfg) as agent:
        assert wait_for(lambda: len(server.heartbeats) >= 3 and agent.source.stats.reconnects >= 2)
    beat = server.heartbeats[-1]
    assert beat["camera_ok"] is False and beat["camera_error"] == "cannot open camera usb:97"
    assert beat["fps"] == 0.0 and beat["frames_ok"] == 0


# An unpaid VietQR does not hold the exit lane (issue 12.8): after the lot's short wait the car leaves with a
# debt (the server is told), or the attendant is called, as the operator's policy says.
def test_unpaid_qr_releases_the_lane_as_a_debt_after_the_lots_wait(
    tmp_path: Path, server: FakeGateServer, lane_config: Any, start_agent: Any
) -> None:
    ps = plates(2)
    server.pay_plates = {"".join(c for c in p if c.isalnum()) for p in ps}
    # The lane's own limit is long (120 s); the lot's policy is to wait 1 s, then let the car out as a debt.
    server.pay_policy = {"lane_wait_s": 1, "on_timeout": "debt"}
    folder = make_plate_folder(tmp_path / "frames", ps)
    with start_agent(lane_config(server.url, folder, "exit", lane={"pay_timeout_s": 120.0})) as agent:
        assert wait_for(lambda: len(server.left_unpaid) == 2, timeout=30)
        assert wait_for(lambda: len(_opens(agent)) == 2)
        assert [o["reason"] for o in _opens(agent)] == ["left_unpaid", "left_unpaid"]
        snap = agent.display.snapshot()
        assert snap["kind"] == "open" and "ghi nợ" in " ".join(snap["lines"])
    assert set(server.left_unpaid) == set(server.sessions)


def test_attendant_policy_calls_the_attendant_after_the_wait(
    tmp_path: Path, server: FakeGateServer, lane_config: Any, start_agent: Any
) -> None:
    ps = plates(1)
    server.pay_plates = {"".join(c for c in ps[0] if c.isalnum())}
    server.pay_policy = {"lane_wait_s": 1, "on_timeout": "attendant"}
    folder = make_plate_folder(tmp_path / "frames", ps)
    with start_agent(lane_config(server.url, folder, "exit", lane={"pay_timeout_s": 120.0})) as agent:
        assert wait_for(lambda: agent.display.snapshot()["kind"] == "attendant", timeout=10)
        assert _opens(agent) == [] and server.left_unpaid == []
