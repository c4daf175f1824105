"""Start the payment-provider simulator as a real HTTP server in a child process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def run_simulator(secret: str, webhook_url: str | None = None, timeout_hang_s: float = 30.0) -> Iterator[str]:
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "simulators.payment_provider",
        "--port",
        str(port),
        "--secret",
        secret,
        "--timeout-hang-s",
        str(timeout_hang_s),
        "--late-delay-s",
        "0.5",
    ]
    if webhook_url:
        cmd += ["--webhook-url", webhook_url]
    proc = subprocess.Popen(cmd, cwd=REPO, env=os.environ.copy())
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("payment simulator did not start")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
