"""`parking run` from the outside: healthy within a deadline, Ctrl-C stops every child, data is reused."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

from parking.kit.embedded import free_port
from parking.settings import REPO_ROOT


def _start(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARKING_")}
    env.update(
        PARKING_DATA_DIR=str(data_dir), PARKING_PORT=str(port), PARKING_PUBLIC_BASE_URL=f"http://127.0.0.1:{port}"
    )
    return subprocess.Popen(
        [sys.executable, "-m", "parking.cli", "run", "--no-agents"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _wait_healthy(port: int, proc: subprocess.Popen[bytes], timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        try:
            r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
            if r.status_code == 200:
                return r.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError("platform not healthy in time")


def _stop(proc: subprocess.Popen[bytes]) -> tuple[int, list[psutil.Process]]:
    children: list[psutil.Process] = []
    for _ in range(5):  # a child may exit while we list them
        try:
            children = psutil.Process(proc.pid).children(recursive=True)
            break
        except psutil.NoSuchProcess:
            time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    code = proc.wait(60)
    _gone, alive = psutil.wait_procs(children, timeout=20)
    return code, alive


def test_run_serves_health_stops_cleanly_and_reuses_data() -> None:
    # Not pytest's tmp_path: it is mode 0700 for root and the embedded PostgreSQL runs as its own user.
    base = Path(tempfile.mkdtemp(prefix="parking-run-test-"))
    base.chmod(0o755)
    try:
        _run_twice(base / "data")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _run_twice(data: Path) -> None:
    data.mkdir()
    port = free_port()
    proc = _start(data, port)
    try:
        health = _wait_healthy(port, proc)
        assert health["database"]["status"] == "up" and health["redis"]["status"] == "up"
        lots = httpx.get(f"http://127.0.0.1:{port}/v1/lots").json()["lots"]
        assert {lot["code"] for lot in lots} == {"HK-CAR-01", "HK-MOTO-01"}
        first_ids = {lot["id"] for lot in lots}
    finally:
        code, alive = _stop(proc)
    assert alive == [], f"processes left running after Ctrl-C: {alive}"
    assert code == 0
    assert (data / "pg" / "PG_VERSION").exists()

    proc = _start(data, port)
    try:
        _wait_healthy(port, proc)
        lots = httpx.get(f"http://127.0.0.1:{port}/v1/lots").json()["lots"]
        assert {lot["id"] for lot in lots} == first_ids  # the second run found the first run's data
    finally:
        code, alive = _stop(proc)
    assert alive == [] and code == 0


def test_configured_servers_are_used_instead_of_embedded_ones(db_url: str, redis_url: str) -> None:
    """With PARKING_DATABASE_URL / PARKING_REDIS_URL set, no embedded server starts and data goes there."""
    base = Path(tempfile.mkdtemp(prefix="parking-url-test-"))
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARKING_")}
        env.update(PARKING_DATA_DIR=str(base / "data"), PARKING_DATABASE_URL=db_url, PARKING_REDIS_URL=redis_url)
        out = subprocess.run(
            [sys.executable, "-m", "parking.cli", "seed-demo"],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        assert "embedded" not in out.stderr
        assert not (base / "data" / "pg").exists() and not (base / "data" / "redis").exists()
        assert "HK-CAR-01" in out.stdout  # the demo lots were written to the configured database
    finally:
        shutil.rmtree(base, ignore_errors=True)
