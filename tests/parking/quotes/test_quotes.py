"""Fee quotes over HTTP: what-if, per lot, and the fee so far of an open session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.factories import LotHandle, event


async def test_what_if_quote_matches_the_decision_row(client: httpx.AsyncClient) -> None:
    r = await client.get(
        "/v1/quote",
        params={
            "tariff": "hanoi-44-2017",
            "zone": "urban",
            "vehicle": "motorbike",
            "entry": "2026-11-22T07:00:00+07:00",
            "exit": "2026-11-22T19:30:00+07:00",
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total_vnd"] == 12_000  # day + night turn for a motorbike, Decision 44/2017
    assert body["lines"] and body["tariff_id"] == "hanoi-44-2017"


async def test_quote_errors_name_the_problem(client: httpx.AsyncClient) -> None:
    base = {
        "tariff": "hanoi-44-2017",
        "zone": "urban",
        "vehicle": "motorbike",
        "entry": "2026-11-22T07:00:00+07:00",
        "exit": "2026-11-22T06:00:00+07:00",
    }
    r = await client.get("/v1/quote", params=base)
    assert r.status_code == 422 and r.json()["error"]["code"] == "exit_before_entry"
    r = await client.get("/v1/quote", params={**base, "exit": "2026-11-22T09:00:00"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "naive_datetime"
    r = await client.get("/v1/quote", params={**base, "exit": "2026-11-22T09:00:00+07:00", "vehicle": "tank"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_vehicle_class"
    r = await client.get("/v1/quote", params={**base, "exit": "2026-11-22T09:00:00+07:00", "tariff": "nope"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_tariff"


async def test_fee_so_far_of_an_open_session_then_the_final_fee(client: httpx.AsyncClient, lot: LotHandle) -> None:
    entry = (
        await client.post(
            "/v1/gate/events",
            json=event("entry", "30A-777.01", at=datetime.now(UTC) - timedelta(hours=2, minutes=5)),
            headers=lot.entry.headers,
        )
    ).json()
    so_far = (await client.get(f"/v1/sessions/{entry['session_id']}/fee", headers=lot.exit.headers)).json()
    assert so_far["final"] is False and so_far["total_vnd"] > 0
    ex = (await client.post("/v1/gate/events", json=event("exit", "30A-777.01"), headers=lot.exit.headers)).json()
    final = (await client.get(f"/v1/sessions/{entry['session_id']}/fee", headers=lot.exit.headers)).json()
    assert final["final"] is True and final["total_vnd"] == ex["fee_vnd"] >= so_far["total_vnd"]


async def test_tariffs_are_listed(client: httpx.AsyncClient) -> None:
    ids = {t["tariff_id"] for t in (await client.get("/v1/tariffs")).json()["tariffs"]}
    assert "hanoi-44-2017" in ids
