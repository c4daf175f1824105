"""Fixtures for the invoice tests: a self-signed operator certificate generated here (never committed)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from parking.invoices.certs import self_signed
from parking.invoices.signing import Credentials


def make_credentials() -> Credentials:
    return self_signed("Cong ty Trong giu xe Ha Noi (test)", "0101234567", days=2)


@pytest.fixture(scope="session")
def operator_creds() -> Credentials:
    return make_credentials()


@pytest.fixture(scope="session")
def make_creds() -> Callable[[], Credentials]:
    return make_credentials


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Sim:
    url: str

    def reset(self) -> None:
        httpx.post(f"{self.url}/_reset").raise_for_status()

    def fault(self, mode: str, count: int = 1, delay_s: float = 10.0) -> None:
        httpx.post(f"{self.url}/_faults", json={"mode": mode, "count": count, "delay_s": delay_s}).raise_for_status()

    def received(self) -> dict[str, Any]:
        r = httpx.get(f"{self.url}/_received")
        r.raise_for_status()
        return dict(r.json())


@contextlib.contextmanager
def run_simulator(*args: str) -> Iterator[Sim]:
    """The provider simulator as a real HTTP server in its own process."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulators.einvoice_provider", "--port", str(port), *args],
        cwd=Path(__file__).resolve().parents[3],
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{url}/healthz", timeout=0.5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None:
                raise RuntimeError("simulator exited")
            time.sleep(0.05)
        else:
            raise RuntimeError("simulator did not start")
        yield Sim(url)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def einvoice_sim(operator_creds: Credentials, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    """One simulator for the session, trusting the test certificate."""
    cert = tmp_path_factory.mktemp("certs") / "operator.crt.pem"
    cert.write_bytes(operator_creds.cert_pem)
    with run_simulator("--cert", str(cert)) as sim:
        yield sim
