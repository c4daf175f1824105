"""kill -9 of the agent process mid-stream, online and offline, then restart:
every vehicle becomes exactly one event id, and every event ends acknowledged by the server."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.factories.fake_gate_server import FakeGateServer, wait_for
from tests.factories.gate_agent import make_plate_folder, plates, write_config

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).parents[2]


def _spawn(cfg: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "gate_agent", "run", "--config", str(cfg)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )


def _queue(path: str) -> list[tuple[str, str, str]]:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT event_id, plate_norm, status FROM events ORDER BY seq").fetchall()
    finally:
        db.close()


def _outcomes_pending(path: str) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("SELECT count(*) FROM events WHERE outcome_status = 'pending'").fetchone()[0])
    finally:
        db.close()


def _queued(path: str) -> int:
    try:
        return len(_queue(path))
    except sqlite3.OperationalError:  # not created yet
        return 0


def test_kill_9_mid_stream_online_and_offline(tmp_path: Path, lane_config: Any) -> None:
    n = 40
    ps = plates(n)
    folder = make_plate_folder(tmp_path / "frames", ps)
    server = FakeGateServer()
    server.delay_s = 0.02  # a slow-ish server widens the window a kill lands in
    server.start()
    cfg = lane_config(server.url, folder, camera={"fps": 25.0})
    cfg_path = write_config(tmp_path / "lane.toml", cfg)
    qpath = cfg["queue"]["path"]
    log = tmp_path / "agent.log"
    proc = _spawn(cfg_path, log)
    try:
        # 1. kill -9 while online, mid-stream
        assert wait_for(lambda: server.distinct() >= 8, timeout=60), log.read_text()[-2000:]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        killed_online_at = _queued(qpath)
        assert 0 < killed_online_at < n

        # 2. restart with the server down; kill -9 again while it runs offline
        server.stop()
        proc = _spawn(cfg_path, log)
        assert wait_for(lambda: _queued(qpath) >= killed_online_at + 8, timeout=60), log.read_text()[-2000:]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert _queued(qpath) < n

        # 3. restart with the server back: the rest of the folder, and the backlog
        server.start()
        proc = _spawn(cfg_path, log)
        assert wait_for(lambda: _queued(qpath) == n and all(s == "acked" for _, _, s in _queue(qpath)), timeout=90), (
            log.read_text()[-3000:]
        )
        assert wait_for(lambda: _outcomes_pending(qpath) == 0, timeout=30), log.read_text()[-3000:]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        server.stop()

    rows = _queue(qpath)
    ids = [r[0] for r in rows]
    # no loss: every vehicle of the folder has an event, and the server has every event
    assert sorted(r[1] for r in rows) == sorted("".join(c for c in p if c.isalnum()) for p in ps)
    assert set(server.deliveries) == set(ids)
    # no doubles: one id per vehicle (never minted twice), one first-delivery per id on the server
    assert len(set(ids)) == n
    plates_on_server = Counter(b["plate"] for b in server.first_body.values())
    assert all(c == 1 for c in plates_on_server.values()) and len(plates_on_server) == n
    # the offline part was reported as opened by the lane (its own request), the event bodies left unchanged
    assert all(b["offline_action"] is None for b in server.first_body.values())
    assert server.outcomes and all(e in ids for e in server.outcomes)


def test_kill_9_while_a_post_is_in_flight_resends_the_same_id(tmp_path: Path, lane_config: Any) -> None:
    n = 6
    ps = plates(n)
    folder = make_plate_folder(tmp_path / "frames", ps)
    server = FakeGateServer()
    server.delay_s = 1.0  # the server has the event but has not answered yet when the kill lands
    server.start()
    cfg = lane_config(server.url, folder, camera={"fps": 25.0}, lane={"decision_timeout_s": 5.0})
    cfg_path = write_config(tmp_path / "lane.toml", cfg)
    qpath = cfg["queue"]["path"]
    log = tmp_path / "agent.log"
    proc = _spawn(cfg_path, log)
    try:
        assert wait_for(lambda: server.distinct() >= 2, timeout=60), log.read_text()[-2000:]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        in_flight = [eid for eid, _, status in _queue(qpath) if status == "pending"]
        assert in_flight and all(eid in server.deliveries for eid in in_flight)
        server.delay_s = 0.0
        proc = _spawn(cfg_path, log)
        assert wait_for(lambda: _queued(qpath) == n and all(s == "acked" for _, _, s in _queue(qpath)), timeout=90), (
            log.read_text()[-3000:]
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        server.stop()
    rows = _queue(qpath)
    # the events the server had heard before the kill were resent with the same id ...
    assert all(server.deliveries[eid] == 2 for eid in in_flight)
    # ... and no vehicle got a second id
    assert len({r[0] for r in rows}) == n and len({r[1] for r in rows}) == n
    assert set(server.first_body) == {r[0] for r in rows}
