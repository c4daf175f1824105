"""A lane of the demo lot end to end: real gate agent processes against the real API, PostgreSQL and Redis.

The entry agent replays car photos (the shared ones, or plates the project renders when they are absent);
the exit agent replays the same vehicles a few seconds later. The plate comes from the folder's labels
(reader "sidecar", the camera-edge fake) so the test checks the platform path, not OCR accuracy, which
tests/gate_agent/test_agent_ocr.py and tests/gate_agent/reading cover.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.models import GateEvent, ParkingSession
from parking.settings import REPO_ROOT, Settings
from tests.conftest import LiveServer
from tests.factories import LotHandle, make_lot, make_staff

N_CARS = 4


def _frames(settings: Settings, out: Path) -> Path:
    labels = settings.datasets_dir / "vn-plates" / "labels.csv"
    out.mkdir()
    rows = []
    if labels.is_file():
        with labels.open(newline="") as fh:
            for row in csv.DictReader(fh):
                if row["plate_kind"] == "car_1line" and len(rows) < N_CARS:
                    (out / row["file"]).symlink_to(labels.parent / row["file"])
                    rows.append({"file": row["file"], "plate_text": row["plate_text"]})
        with (out / "labels.csv").open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["file", "plate_text"])
            w.writeheader()
            w.writerows(rows)
    else:
        subprocess.run(
            [sys.executable, "-m", "gate_agent", "render-demo-plates", "--out", str(out), "--n", str(N_CARS)],
            check=True,
            cwd=REPO_ROOT,
        )
    return out


def _config(tmp: Path, url: str, lane_token: str, code: str, direction: str, frames: Path, offset: float) -> Path:
    path = tmp / f"{code}.toml"
    path.write_text(f"""
[lane]
server_url = "{url}"
token = "{lane_token}"
lane_code = "{code}"
direction = "{direction}"
vehicle_class = "car_small"
pay_timeout_s = 5.0
[camera]
source = "folder:{frames}"
fps = 2.0
loop = false
order_seed = 3
offset_s = {offset}
[reader]
engine = "sidecar"
[barrier]
driver = "simulated"
state_file = "{tmp / f"barrier-{code}.jsonl"}"
[display]
port = 0
[queue]
path = "{tmp / f"queue-{code}.sqlite"}"
[heartbeat]
interval_s = 1.0
""")
    return path


async def _count(sm: async_sessionmaker[AsyncSession], lot: LotHandle) -> tuple[int, int, int]:
    async with sm() as db:
        events = (await db.execute(select(func.count()).where(GateEvent.lot_id == lot.id))).scalar_one()
        closed = (
            await db.execute(
                select(func.count()).where(
                    ParkingSession.lot_id == lot.id,
                    ParkingSession.status == "closed",
                    ParkingSession.entry_at.is_not(None),
                )
            )
        ).scalar_one()
        opened = (await db.execute(select(func.count()).where(ParkingSession.lot_id == lot.id))).scalar_one()
    return int(events), int(closed), int(opened)


@pytest.mark.timeout(180)
async def test_demo_lane_agents_drive_sessions_end_to_end(
    live_server: LiveServer, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    lot = await make_lot(sessionmaker, capacities={"car_small": 50})
    staff = await make_staff(sessionmaker, lot.operator_id, "auditor")
    frames = _frames(settings, tmp_path / "frames")
    procs = []
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for lane, offset in ((lot.entry, 0.0), (lot.exit, 4.0)):
        cfg = _config(tmp_path, live_server.url, lane.token, lane.code, lane.direction, frames, offset)
        cmd = [sys.executable, "-m", "gate_agent", "run", "--config", str(cfg)]
        # Long-lived processes we watch and stop: Popen, not a blocking run (hence the noqa).
        procs.append(subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))  # noqa: ASYNC220
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            events, closed, _ = await _count(sessionmaker, lot)
            if events >= 2 * N_CARS and closed >= N_CARS:
                break
            for p in procs:
                assert p.poll() is None, p.stdout.read().decode() if p.stdout else ""
            await asyncio.sleep(0.5)
        events, closed, total = await _count(sessionmaker, lot)
        assert events == 2 * N_CARS, "every vehicle's entry and exit reached the server exactly once"
        assert closed == N_CARS and total == N_CARS, "each stay opened at entry and closed at exit"
        lanes = {x["id"]: x for x in (await _lanes(live_server, staff.headers))}
        assert lanes[str(lot.entry.id)]["online"] and lanes[str(lot.exit.id)]["online"]
        moves = [json.loads(line) for line in (tmp_path / "barrier-E1.jsonl").read_text().splitlines()]
        assert sum(1 for m in moves if m.get("state") == "open" or m.get("action") == "open") >= N_CARS
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                raise AssertionError("gate agent did not stop on SIGTERM") from None


async def _lanes(srv: LiveServer, headers: dict[str, str]) -> list[dict]:
    import httpx

    async with httpx.AsyncClient(base_url=srv.url) as c:
        return (await c.get("/v1/lanes", headers=headers)).json()["lanes"]  # type: ignore[no-any-return]
