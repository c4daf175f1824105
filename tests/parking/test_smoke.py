from __future__ import annotations

import httpx

from tests.factories import LotHandle, event


async def test_health_reports_database_and_redis_up(client: httpx.AsyncClient) -> None:
    r = await client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["database"]["status"] == "up"
    assert body["redis"]["status"] == "up"
    assert body["database"]["migration"] is not None


async def test_entry_then_exit_closes_the_session_with_its_fee(client: httpx.AsyncClient, lot: LotHandle) -> None:
    r = await client.post("/v1/gate/events", json=event("entry", "30A-123.45", at=None), headers=lot.entry.headers)
    assert r.status_code == 200, r.text
    entry = r.json()
    assert entry["action"] == "open"
    r = await client.post("/v1/gate/events", json=event("exit", "30A-123.45"), headers=lot.exit.headers)
    assert r.status_code == 200, r.text
    ex = r.json()
    assert ex["session_id"] == entry["session_id"]
    assert ex["fee_vnd"] is not None
