"""Every bad input gets a clear error in one JSON shape, and nothing is half-written."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.models import GateEvent, ParkingSession
from tests.factories import LotHandle, event, make_lot


def _assert_error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert err["code"] == code
    assert isinstance(err["message"], str) and len(err["message"]) > 10
    assert isinstance(err["details"], dict)
    return err


async def _counts(sm: async_sessionmaker[AsyncSession], lot: LotHandle) -> tuple[int, int]:
    async with sm() as db:
        ev = (await db.execute(select(func.count()).where(GateEvent.lot_id == lot.id))).scalar_one()
        se = (await db.execute(select(func.count()).where(ParkingSession.lot_id == lot.id))).scalar_one()
    return int(ev), int(se)


async def test_missing_credential(client: httpx.AsyncClient) -> None:
    _assert_error(await client.post("/v1/gate/events", json=event("entry", "30A-123.45")), 401, "missing_credential")


async def test_unknown_lane(client: httpx.AsyncClient) -> None:
    headers = {"Authorization": f"Bearer {uuid.uuid4()}.whatever"}
    _assert_error(
        await client.post("/v1/gate/events", json=event("entry", "30A-123.45"), headers=headers), 401, "unknown_lane"
    )


async def test_wrong_credential(client: httpx.AsyncClient, lot: LotHandle) -> None:
    headers = {"Authorization": f"Bearer {lot.entry.id}.not-the-secret"}
    err = _assert_error(
        await client.post("/v1/gate/events", json=event("entry", "30A-123.45"), headers=headers),
        401,
        "wrong_credential",
    )
    assert "E1" in err["message"]


async def test_lane_of_another_lot_cannot_read_this_lots_sessions(
    client: httpx.AsyncClient, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    other = await make_lot(sessionmaker, capacities={"car_small": 3})
    sid = (await client.post("/v1/gate/events", json=event("entry", "30A-123.45"), headers=lot.entry.headers)).json()[
        "session_id"
    ]
    _assert_error(await client.get(f"/v1/gate/sessions/{sid}", headers=other.exit.headers), 404, "session_not_found")
    ok = await client.get(f"/v1/gate/sessions/{sid}", headers=lot.exit.headers)
    assert ok.status_code == 200 and ok.json()["status"] == "open"


@pytest.mark.parametrize(
    ("mutate", "status", "code"),
    [
        (lambda e: e.update(plate="HELLO"), 422, "malformed_plate"),
        (lambda e: e.update(plate="30A-12"), 422, "malformed_plate"),
        (lambda e: e.update(captured_at=(datetime.now(UTC) + timedelta(hours=2)).isoformat()), 422, "time_in_future"),
        (lambda e: e.update(captured_at=(datetime.now(UTC) - timedelta(days=90)).isoformat()), 422, "time_too_old"),
        (lambda e: e.update(captured_at="2026-11-22T08:00:00"), 422, "invalid_request"),
        (lambda e: e.pop("event_id"), 422, "invalid_request"),
        (lambda e: e.pop("kind"), 422, "invalid_request"),
        (lambda e: e.update(kind="teleport"), 422, "invalid_request"),
        (lambda e: e.update(confidence=1.5), 422, "invalid_request"),
        (lambda e: e.update(event_id="not-a-uuid"), 422, "invalid_request"),
        (lambda e: e.update(surprise=True), 422, "invalid_request"),
        (lambda e: e.update(kind="exit"), 422, "wrong_direction"),
        (lambda e: e.update(vehicle_class="motorbike"), 422, "wrong_vehicle_class"),
        (lambda e: e.update(image_jpeg_b64=base64.b64encode(b"\xff" * (600 * 1024)).decode()), 413, "image_too_large"),
        (lambda e: e.update(image_jpeg_b64="***not base64***"), 422, "bad_image"),
    ],
)
async def test_bad_event_is_refused_and_nothing_is_written(
    client: httpx.AsyncClient,
    lot: LotHandle,
    sessionmaker: async_sessionmaker[AsyncSession],
    mutate: Any,
    status: int,
    code: str,
) -> None:
    ev = event("entry", "30A-123.45")
    mutate(ev)
    before = await _counts(sessionmaker, lot)
    _assert_error(await client.post("/v1/gate/events", json=ev, headers=lot.entry.headers), status, code)
    assert await _counts(sessionmaker, lot) == before


async def test_validation_error_names_the_field(client: httpx.AsyncClient, lot: LotHandle) -> None:
    ev = event("entry", "30A-123.45")
    ev.pop("captured_at")
    err = _assert_error(
        await client.post("/v1/gate/events", json=ev, headers=lot.entry.headers), 422, "invalid_request"
    )
    assert "captured_at" in err["message"]
    assert err["details"]["fields"][0]["field"] == "captured_at"


async def test_not_json_at_all(client: httpx.AsyncClient, lot: LotHandle) -> None:
    r = await client.post(
        "/v1/gate/events", content=b"{nope", headers={**lot.entry.headers, "content-type": "application/json"}
    )
    _assert_error(r, 422, "invalid_request")


async def test_same_id_with_different_content_is_a_conflict(
    client: httpx.AsyncClient, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    ev = event("entry", "30A-123.45")
    assert (await client.post("/v1/gate/events", json=ev, headers=lot.entry.headers)).status_code == 200
    before = await _counts(sessionmaker, lot)
    _assert_error(
        await client.post("/v1/gate/events", json={**ev, "plate": "30A-123.46"}, headers=lot.entry.headers),
        409,
        "event_id_conflict",
    )
    assert await _counts(sessionmaker, lot) == before


async def test_image_is_stored_with_the_event(
    client: httpx.AsyncClient, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    img = _jpeg()
    ev = event("entry", "30A-123.45", confidence=0.3, image_jpeg_b64=base64.b64encode(img).decode())
    r = (await client.post("/v1/gate/events", json=ev, headers=lot.entry.headers)).json()
    assert r["action"] == "attendant"
    from parking.models import GateEventImage

    async with sessionmaker() as db:
        stored = (
            await db.execute(select(GateEventImage.data).where(GateEventImage.event_id == uuid.UUID(ev["event_id"])))
        ).scalar_one()
    assert stored == img


async def test_unknown_route_uses_the_error_shape(client: httpx.AsyncClient) -> None:
    _assert_error(await client.get("/v1/nothing-here"), 404, "not_found")


def _jpeg() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (120, 40), (250, 250, 250)).save(buf, "JPEG")
    return buf.getvalue()


@pytest.mark.parametrize(
    "fake",
    [
        b"\xff\xd8\xff" + b"plate" * 100,  # the magic bytes glued to anything (issue 13.6)
        b"\xff\xd8\xff<script>alert(1)</script>",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
        _jpeg()[:200],  # a real JPEG, truncated
    ],
)
async def test_a_fake_jpeg_is_refused_as_an_image(client: httpx.AsyncClient, lot: LotHandle, fake: bytes) -> None:
    ev = event("entry", "30A-123.45", confidence=0.3, image_jpeg_b64=base64.b64encode(fake).decode())
    _assert_error(await client.post("/v1/gate/events", json=ev, headers=lot.entry.headers), 422, "bad_image")
