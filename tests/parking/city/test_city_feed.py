"""The city feed: per-client keys with scopes, places/occupancy/rates/aggregates, signed webhooks through the
outbox with a delivery log (a real HTTP receiver on loopback)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.city import service as city
from parking.kit.db import transaction
from tests.factories import LotHandle, event, random_car_plate
from tests.parking.drivers.conftest import Idp, new_subject, staff_headers

ALL = ["places:read", "occupancy:read", "rates:read", "aggregates:read", "webhooks:manage"]


class Receiver:
    """A webhook receiver: records every POST; answers ``status`` (500 to make deliveries fail)."""

    def __init__(self) -> None:
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [json.loads(b) for h, b in self.posts if h.get("x-parking-event") == kind]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


@pytest.fixture
async def admin(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    """An operator's admin: city-feed clients are created by admins (the feed is the platform's open data)."""
    return await staff_headers(sessionmaker, None, "admin")


async def new_client(client: httpx.AsyncClient, admin: dict[str, str], scopes: list[str]) -> dict[str, str]:
    r = await client.post("/v1/operator/city-clients", json={"name": "iHanoi", "scopes": scopes}, headers=admin)
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['key']}"}


async def test_keys_and_scopes(
    client: httpx.AsyncClient, admin: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    assert (await client.get("/v1/city/places")).status_code == 401
    assert (await client.post("/v1/operator/city-clients", json={"name": "x", "scopes": ALL})).status_code == 401
    places_only = await new_client(client, admin, ["places:read"])
    assert (await client.get("/v1/city/places", headers=places_only)).status_code == 200
    r = await client.get("/v1/city/occupancy", headers=places_only)
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
    wrong = {"Authorization": places_only["Authorization"][:-3] + "xyz"}
    assert (await client.get("/v1/city/places", headers=wrong)).status_code == 401
    r = await client.post("/v1/operator/city-clients", json={"name": "x", "scopes": ["all"]}, headers=admin)
    assert r.status_code == 422
    # Only an admin creates a city client: the feed is the whole platform's.
    sup = await staff_headers(sessionmaker, None, "supervisor")
    r = await client.post("/v1/operator/city-clients", json={"name": "x", "scopes": ["places:read"]}, headers=sup)
    assert r.status_code == 403


async def test_places_occupancy_rates(client: httpx.AsyncClient, lot: LotHandle, admin: dict[str, str]) -> None:
    key = await new_client(client, admin, ALL)
    await client.post("/v1/gate/events", json=event("entry", random_car_plate()), headers=lot.entry.headers)
    place = next(p for p in (await client.get("/v1/city/places", headers=key)).json()["places"] if p["id"] == lot.code)
    assert place["location"] == {"type": "Point", "coordinates": [105.85, 21.03]}
    assert {s["vehicleType"]: s["capacity"] for s in place["supply"]} == {"car_small": 5, "car_large": 1}
    occ = (await client.get("/v1/city/occupancy", headers=key)).json()["occupancy"]
    mine = next(o for o in occ if o["placeId"] == lot.code and o["vehicleType"] == "car_small")
    assert (mine["occupied"], mine["available"]) == (1, 4) and mine["observedAt"]
    rates = (await client.get("/v1/city/rates", headers=key)).json()["rates"]
    rate = next(r for r in rates if r["placeId"] == lot.code and r["vehicleType"] == "car_small")
    assert [s["total_vnd"] for s in rate["rate"]["stays"]] == [25000, 50000, 120000]
    assert str(lot.id) not in json.dumps([place, mine, rate])


async def test_daily_aggregates_count_the_days_activity(
    client: httpx.AsyncClient, idp: Idp, lot: LotHandle, admin: dict[str, str]
) -> None:
    key = await new_client(client, admin, ["aggregates:read"])
    plate = random_car_plate()
    now = datetime.now(UTC)
    for kind, at in (("entry", now - timedelta(minutes=30)), ("exit", now)):
        lane = lot.entry if kind == "entry" else lot.exit
        assert (
            await client.post("/v1/gate/events", json=event(kind, plate, at=at), headers=lane.headers)
        ).status_code == 200
    sub = new_subject()
    r = await client.post("/v1/drivers/oidc/token", json={"id_token": idp.token(sub)})
    drv = {"Authorization": f"Bearer {r.json()['access_token']}"}
    for body in ({"kind": "cash_requested"}, {"kind": "barrier_broken"}, {"kind": "rating", "stars": 3}):
        assert (await client.post(f"/v1/lots/{lot.code}/reports", json=body, headers=drv)).status_code == 201
    day = now.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).date()
    agg = (
        await client.get("/v1/city/aggregates", params={"day": day.isoformat(), "place": lot.code}, headers=key)
    ).json()
    [row] = agg["lots"]
    # The 30-minute stay may straddle local midnight only if the test runs at 00:00-00:30 in Hanoi.
    if (now - timedelta(minutes=30)).astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).date() == day:
        assert row["entries"] == 1
    assert row["exits"] == 1
    assert (row["cash_collection_reports"], row["other_problem_reports"], row["ratings"]) == (1, 1, 1)
    assert row["average_stars"] == 3.0 and row["disputes"] == 0
    other_day = (
        await client.get("/v1/city/aggregates", params={"day": "2020-01-01", "place": lot.code}, headers=key)
    ).json()
    assert other_day["lots"][0]["exits"] == 0


async def test_signed_webhooks_for_availability_and_alerts_with_a_delivery_log(
    client: httpx.AsyncClient,
    idp: Idp,
    lot: LotHandle,
    receiver: Receiver,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis_url: str,
    admin: dict[str, str],
) -> None:
    from redis.asyncio import Redis

    key = await new_client(client, admin, ["webhooks:manage"])
    r = await client.post(
        "/v1/city/webhooks", json={"url": receiver.url, "events": ["availability", "alert"]}, headers=key
    )
    assert r.status_code == 201, r.text
    hook = r.json()
    assert hook["secret"].startswith("whsec_")
    await client.post("/v1/gate/events", json=event("entry", random_car_plate()), headers=lot.entry.headers)
    redis = Redis.from_url(redis_url)
    try:
        async with transaction(sessionmaker) as db:
            sent = await city.availability_changes(db, redis)
        await city.mark_sent(redis, sent)
    finally:
        await redis.aclose()
    sub = new_subject()
    tok = (await client.post("/v1/drivers/oidc/token", json={"id_token": idp.token(sub)})).json()["access_token"]
    r = await client.post(
        f"/v1/lots/{lot.code}/reports",
        json={"kind": "shown_free_but_full", "comment": "Báo còn chỗ nhưng đã đầy"},
        headers={"Authorization": f"Bearer {tok}"},
    )
    assert r.status_code == 201

    def mine() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        avail = [
            o
            for e in receiver.events("availability")
            for o in e["data"]["occupancy"]
            if o["placeId"] == lot.code and o["vehicleType"] == "car_small"
        ]
        alerts = [e for e in receiver.events("alert") if e["data"]["placeId"] == lot.code]
        return avail, alerts

    for _ in range(200):  # the outbox worker of the live server delivers (polls every 0.2 s)
        if all(mine()):
            break
        await asyncio.sleep(0.1)
    avail, alerts = mine()
    assert avail and avail[-1]["available"] == 4
    assert alerts and alerts[0]["data"]["kind"] == "shown_free_but_full"
    for headers, body in receiver.posts:
        assert city.verify_signature(hook["secret"], headers["x-parking-signature"], body)
        assert not city.verify_signature("whsec_other", headers["x-parking-signature"], body)
    log = (await client.get(f"/v1/city/webhooks/{hook['id']}/deliveries", headers=key)).json()
    assert log and all(d["ok"] and d["status_code"] == 200 for d in log)
    assert [w["id"] for w in (await client.get("/v1/city/webhooks", headers=key)).json()] == [hook["id"]]
    r = await client.delete(f"/v1/city/webhooks/{hook['id']}", headers=key)
    assert r.status_code == 204
    assert (await client.get("/v1/city/webhooks", headers=key)).json() == []


async def test_failed_deliveries_are_logged_and_retried(
    client: httpx.AsyncClient, idp: Idp, lot: LotHandle, receiver: Receiver, admin: dict[str, str]
) -> None:
    receiver.status = 500
    key = await new_client(client, admin, ["webhooks:manage"])
    hook = (await client.post("/v1/city/webhooks", json={"url": receiver.url, "events": ["alert"]}, headers=key)).json()
    tok = (await client.post("/v1/drivers/oidc/token", json={"id_token": idp.token(new_subject())})).json()[
        "access_token"
    ]
    await client.post(
        f"/v1/lots/{lot.code}/reports", json={"kind": "other"}, headers={"Authorization": f"Bearer {tok}"}
    )
    deadline = time.monotonic() + 20  # first try at once, the retry 0.5 s later (outbox backoff)
    log: list[dict[str, Any]] = []
    while time.monotonic() < deadline and len(log) < 2:
        await asyncio.sleep(0.2)
        log = (await client.get(f"/v1/city/webhooks/{hook['id']}/deliveries", headers=key)).json()
    assert len(log) >= 2 and all(not d["ok"] and d["status_code"] == 500 for d in log)
    receiver.status = 200
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any(d["ok"] for d in log):
        await asyncio.sleep(0.2)
        log = (await client.get(f"/v1/city/webhooks/{hook['id']}/deliveries", headers=key)).json()
    assert any(d["ok"] for d in log)
    await client.delete(f"/v1/city/webhooks/{hook['id']}", headers=key)  # the receiver goes away with the test


def test_signature_rejects_old_or_tampered_bodies() -> None:
    now = 1_800_000_000
    sig = city.signature("whsec_k", now, b'{"a":1}')
    assert city.verify_signature("whsec_k", sig, b'{"a":1}', now=now + 10)
    assert not city.verify_signature("whsec_k", sig, b'{"a":2}', now=now + 10)
    assert not city.verify_signature("whsec_k", sig, b'{"a":1}', now=now + 3600)
    assert not city.verify_signature("whsec_k", "garbage", b"", now=now)
