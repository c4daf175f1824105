"""Driver-side fixtures: the identity-provider simulator as a real HTTP server in a child process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.drivers.settings import DriverSettings, use_driver_settings
from parking.kit.embedded import free_port
from parking.settings import REPO_ROOT
from tests.factories import make_lot, make_staff


@dataclass
class Idp:
    url: str

    def register(self, sub: str, vehicles: list[dict[str, Any]], name: str = "Người lái thử") -> None:
        r = httpx.put(f"{self.url}/_registry/{sub}", json={"name": name, "vehicles": vehicles})
        assert r.status_code == 200, r.text

    def token(self, sub: str, **extra: Any) -> str:
        r = httpx.post(f"{self.url}/token", data={"grant_type": "urn:sim:direct", "sub": sub, **extra})
        assert r.status_code == 200, r.text
        return str(r.json()["id_token"])


@pytest.fixture(scope="session")
def idp(live_server: Any) -> Iterator[Idp]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulators.identity_provider", "--port", str(port)],
        cwd=REPO_ROOT,
        env=os.environ.copy(),
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("identity provider simulator did not start")
            time.sleep(0.1)
        use_driver_settings(DriverSettings(oidc_issuer=url))
        yield Idp(url)
    finally:
        use_driver_settings(None)
        proc.terminate()
        proc.wait(timeout=10)


def new_subject() -> str:
    return f"sub-{uuid.uuid4().hex[:12]}"


_STAFF: dict[tuple[uuid.UUID | None, str], dict[str, str]] = {}


async def staff_headers(
    sm: async_sessionmaker[AsyncSession], operator_id: uuid.UUID | None, role: str = "supervisor"
) -> dict[str, str]:
    """A staff token of `operator_id` with `role` (one account per operator and role); no operator: a new
    operator of its own (e.g. an admin for plate claims of plates that parked nowhere, or the city feed)."""
    key = (operator_id, role)
    if key not in _STAFF:
        if operator_id is None:
            operator_id = (await make_lot(sm, capacities={"car_small": 1})).operator_id
        _STAFF[key] = (await make_staff(sm, operator_id, role)).headers
    return _STAFF[key]
