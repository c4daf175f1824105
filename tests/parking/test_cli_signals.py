"""Issue 13.6/13.7: SIGTERM (what a service manager sends) stops everything `parking run` / `parking serve`
started, as Ctrl-C does: simulators, Redis and the embedded PostgreSQL included."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from parking.kit.embedded import free_port
from parking.settings import REPO_ROOT

pytestmark = pytest.mark.timeout(240)


def _env(tmp_path: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARKING_")}
    env.update(
        {
            "PARKING_MODE": "demo",  # generated secrets in tmp_path: no default ones
            "PARKING_DATA_DIR": str(tmp_path),
            "PARKING_PORT": str(port),
            "PARKING_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "PARKING_PAYMENTS_PROVIDER_BASE_URL": f"http://127.0.0.1:{free_port()}",
            "PARKING_INVOICE_CERT_DIR": str(tmp_path / "certs"),
            "PYTHONPATH": str(REPO_ROOT),
        }
    )
    return env


def _started_by(proc: subprocess.Popen[bytes], marker: str) -> set[int]:
    """The command's process tree plus daemons that left it (pg_ctl's postgres) but name our data folder."""
    pids = {c.pid for c in psutil.Process(proc.pid).children(recursive=True)}
    for p in psutil.process_iter(["pid", "cmdline"]):
        if marker in " ".join(p.info["cmdline"] or []):
            pids.add(p.pid)
    pids.discard(proc.pid)
    return pids


def _alive(pids: set[int]) -> set[int]:
    out = set()
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.add(pid)
        except psutil.NoSuchProcess:
            pass
    return out


def _run_then_sigterm(args: list[str], tmp_path: Path, expect_at_least: int) -> None:
    port = free_port()
    log = (tmp_path / "out.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "parking", *args], cwd=REPO_ROOT, env=_env(tmp_path, port), stdout=log, stderr=log
    )
    started: set[int] = set()
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (tmp_path / "out.log").read_text()[-3000:]
            time.sleep(0.5)
        else:
            pytest.fail("the platform did not come up: " + (tmp_path / "out.log").read_text()[-3000:])
        time.sleep(1.0)  # let the children settle
        started = _started_by(proc, str(tmp_path))
        assert len(started) >= expect_at_least, started
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        deadline = time.monotonic() + 20
        while _alive(started) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _alive(started) == set(), [psutil.Process(p).cmdline() for p in _alive(started)]
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in _alive(started):  # only what this test started
            psutil.Process(pid).kill()


def test_parking_serve_stops_its_embedded_postgresql_on_sigterm(tmp_path: Path) -> None:
    _run_then_sigterm(["serve"], tmp_path, expect_at_least=2)  # postgres (+ its workers) and redis


def test_parking_run_stops_everything_it_started_on_sigterm(tmp_path: Path) -> None:
    _run_then_sigterm(["run", "--no-agents"], tmp_path, expect_at_least=4)  # + the two simulators
