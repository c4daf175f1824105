"""Issue 13.1, agent side: a committed event whose answer was lost is resent unchanged (same body, same
request hash) and its offline outcome is reported separately; a permanent refusal is dead-lettered, not
retried forever; one bad event never holds the lane offline."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gate_agent._agent import GateAgent
from gate_agent.config import parse_config
from tests.factories.fake_gate_server import FakeGateServer, wait_for
from tests.factories.gate_agent import make_plate_folder, plates

pytestmark = pytest.mark.timeout(90)


def _norm(p: str) -> str:
    return "".join(c for c in p if c.isalnum())


class _Running:
    def __init__(self, cfg: dict[str, Any]) -> None:
        self.agent = GateAgent(parse_config(cfg))
        self.thread = threading.Thread(target=self.agent.run, daemon=True)

    def __enter__(self) -> GateAgent:
        self.thread.start()
        return self.agent

    def __exit__(self, *exc: object) -> None:
        self.agent.stop.set()
        self.thread.join(timeout=15)


@pytest.fixture
def fps() -> Iterator[float]:
    yield 2.0  # slow enough that the lane has time to come back online between vehicles


def test_lost_answer_is_replayed_unchanged_and_the_outcome_reported_once(
    tmp_path: Path, server: FakeGateServer, lane_config: Any, fps: float
) -> None:
    ps = plates(6)
    server.fail_after_record = {_norm(ps[0])}  # stored, answered 500: the lane decides on its own
    folder = make_plate_folder(tmp_path / "frames", ps)
    cfg = lane_config(server.url, folder, camera={"fps": fps}, reader={"dedup_window_s": 0.0})
    with _Running(cfg) as agent:
        assert wait_for(lambda: agent.source_done.is_set() and agent.store.depth() == 0, timeout=40)
        first = next(e for e in agent.store.all() if e.body["plate"] == ps[0])
        assert wait_for(lambda: server.outcomes[first.event_id] >= 1, timeout=20)
        events = agent.store.all()
        hb = agent.heartbeat_payload()
        offline = agent.offline
    assert first.local_action == "opened"
    # The body the server stored is the body the lane keeps resending: never a 409.
    assert server.first_body[first.event_id] == first.body and first.body["offline_action"] is None
    assert all(e.status == "acked" for e in events), [(e.body["plate"], e.status, e.last_error) for e in events]
    assert server.deliveries[first.event_id] <= 3
    assert server.outcomes == {first.event_id: 1}
    assert server.outcome_bodies[first.event_id]["outcome"] == "opened"
    # Every later vehicle was decided by the reachable server, and the lane ends online.
    assert hb["latency_ms"]["online"]["n"] == len(ps) - 1
    assert not offline and hb["dead_letters"] == 0 and hb["outcomes_pending"] == 0


def test_a_permanent_refusal_is_dead_lettered_and_does_not_hold_the_lane_offline(
    tmp_path: Path, server: FakeGateServer, lane_config: Any, fps: float
) -> None:
    ps = plates(5)
    server.conflict_plates = {_norm(ps[1])}
    folder = make_plate_folder(tmp_path / "frames", ps)
    cfg = lane_config(server.url, folder, camera={"fps": fps}, reader={"dedup_window_s": 0.0})
    with _Running(cfg) as agent:
        assert wait_for(lambda: agent.source_done.is_set() and server.distinct() == 5, timeout=40)
        assert wait_for(lambda: len(server.heartbeats) >= 5)  # time for a (wrong) retry to happen
        by_plate = {e.body["plate"]: e for e in agent.store.all()}
        hb = agent.heartbeat_payload()
        offline = agent.offline
    bad = by_plate[ps[1]]
    assert bad.status == "rejected" and "event_id_conflict" in (bad.last_error or "")
    assert server.deliveries[bad.event_id] == 1
    assert all(by_plate[p].status == "acked" for p in ps if p != ps[1])
    assert hb["latency_ms"]["online"]["n"] == len(ps) - 1 and hb["latency_ms"]["offline"]["n"] == 0
    assert not offline and hb["dead_letters"] == 1
