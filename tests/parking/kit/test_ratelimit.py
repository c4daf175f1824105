"""Issue 13.6: rate limits per lane credential and per client address (token buckets in Redis), answered as
JSON 429 with Retry-After; another lane keeps its own budget; a wrong secret with a lane's id spends only
the caller's own budget."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from parking.kit.embedded import free_port
from parking.settings import Settings
from tests.conftest import LiveServer
from tests.factories import LotHandle, event


@pytest.fixture(scope="module")
def limited(settings: Settings) -> Iterator[LiveServer]:
    port = free_port()
    s = settings.model_copy(
        update={
            "port": port,
            "public_base_url": f"http://127.0.0.1:{port}",
            "run_background": False,
            # Refill so slow the test cannot race it: only the bursts count.
            "rate_limit_lane_per_s": 0.001,
            "rate_limit_lane_burst": 3.0,
            "rate_limit_client_per_s": 0.001,
            "rate_limit_client_burst": 12.0,
            "rate_limit_exempt": [],
        }
    )
    srv = LiveServer(s)
    srv.start()
    yield srv
    srv.stop()


def test_lane_then_client_budgets(limited: LiveServer, lot: LotHandle) -> None:
    url = f"{limited.url}/v1/gate/events"
    with httpx.Client(timeout=30) as c:
        a = [c.post(url, json=event("entry", f"30A-400.{i:02d}"), headers=lot.entry.headers) for i in range(5)]
        assert [r.status_code for r in a] == [200, 200, 200, 429, 429]
        err = a[3].json()["error"]
        assert err["code"] == "rate_limited" and err["details"]["scope"] == "lane"
        assert int(a[3].headers["Retry-After"]) >= 1
        # The exit lane has its own budget; a forged token with the entry lane's id does not spend the entry's.
        b = [c.post(f"{limited.url}/v1/gate/heartbeat", json={}, headers=lot.exit.headers) for _ in range(3)]
        assert [r.status_code for r in b] == [200, 200, 200]
        forged = {"Authorization": f"Bearer {lot.entry.id}.not-the-secret"}
        f = c.post(url, json=event("entry", "30A-400.99"), headers=forged)
        assert f.status_code == 401
        # 3 + 2 (lane-limited requests spend nothing) ... the address's budget of 12 runs out all the same.
        statuses = [c.get(f"{limited.url}/v1/lots").status_code for _ in range(8)]
        assert 429 in statuses
        last = c.get(f"{limited.url}/v1/lots")
        assert last.status_code == 429 and last.json()["error"]["details"]["scope"] == "client"
        assert "content-security-policy" in last.headers  # refusals carry the security headers too
