"""Fee proof (GET /v1/sessions/{id}/fee): the pricing engine's trace, in Vietnamese and English, shown only to
the lane of the lot, the session's driver and staff; the crops under the same rule."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.drivers.wording import describe_line, line_names
from parking.models import Lot
from tests.factories import LotHandle, event, make_lot, make_staff
from tests.parking.drivers.conftest import staff_headers

# A 1x1 JPEG: the crop the lane sends with its event.
TINY_JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAAMCAgICAgMCAgIDAwMDBAYEBAQEBAgGBgUGCQgKCgkICQkKDA8MCgsOCwkJDRENDg8QEBEQCgwSExIQEw8QEBD/"
    "yQALCAABAAEBAREA/8wABgAQEAX/2gAIAQEAAD8A0s8g/9k="
)


async def test_fee_needs_the_lane_the_driver_or_staff(
    client: httpx.AsyncClient, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    r = await client.post(
        "/v1/gate/events",
        json=event("entry", "30A-777.02", at=datetime.now(UTC) - timedelta(hours=3, minutes=10)),
        headers=lot.entry.headers,
    )
    sid = r.json()["session_id"]
    anonymous = await client.get(f"/v1/sessions/{sid}/fee")
    assert anonymous.status_code == 401 and "30A" not in anonymous.text
    assert anonymous.json()["error"]["code"] == "unauthorized"
    other = await make_lot(sessionmaker, capacities={"car_small": 1})
    r = await client.get(f"/v1/sessions/{sid}/fee", headers=other.exit.headers)
    assert r.status_code == 403 and "30A" not in r.text
    bad_staff = await client.get(f"/v1/sessions/{sid}/fee", headers={"Authorization": "Bearer stf_guess"})
    assert bad_staff.status_code == 401
    # Staff of another operator, or of the operator but limited to other lots: as if the session did not exist.
    stranger = await staff_headers(sessionmaker, other.operator_id, "admin")
    limited = await make_staff(
        sessionmaker, lot.operator_id, "supervisor", lot_ids=(await _other_lot(sessionmaker, lot),)
    )
    for headers in (stranger, limited.headers):
        for url in (f"/v1/sessions/{sid}/fee", f"/v1/sessions/{sid}/crops/entry"):
            r = await client.get(url, headers=headers)
            assert r.status_code == 404 and "30A" not in r.text, r.text
            assert r.json()["error"]["code"] == "session_not_found"
    for headers in (lot.exit.headers, await staff_headers(sessionmaker, lot.operator_id, "auditor")):
        r = await client.get(f"/v1/sessions/{sid}/fee", headers=headers)
        assert r.status_code == 200, r.text
    proof = r.json()
    assert proof["plate"] == "30A-777.02" and proof["final"] is False
    assert proof["lot"] == {"code": lot.code, "name": "Test lot", "address": "Hà Nội"}
    assert str(lot.id) not in r.text  # no internal id but the session's own


async def _other_lot(sm: async_sessionmaker[AsyncSession], lot: LotHandle) -> uuid.UUID:
    """A second lot of `lot`'s operator."""
    async with sm() as db:
        src = await db.get(Lot, lot.id)
        assert src is not None
        twin = Lot(
            id=uuid.uuid4(), operator_id=lot.operator_id, code=f"TWIN-{uuid.uuid4().hex[:8]}", name="Twin",
            address="Hà Nội", latitude=src.latitude, longitude=src.longitude, tariff_id=src.tariff_id,
            tariff_zone=src.tariff_zone,
        )  # fmt: skip
        db.add(twin)
        await db.commit()
        return twin.id


async def test_proof_carries_reads_tariff_and_each_line(
    client: httpx.AsyncClient, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    entry_at = datetime.now(UTC) - timedelta(hours=3, minutes=10)
    img = base64.b64encode(TINY_JPEG).decode()
    r = await client.post(
        "/v1/gate/events",
        json=event("entry", "30A-777.03", at=entry_at, confidence=0.91, image_jpeg_b64=img),
        headers=lot.entry.headers,
    )
    assert r.status_code == 200, r.text
    sid = r.json()["session_id"]
    ex = await client.post(
        "/v1/gate/events", json=event("exit", "30A-777.03", confidence=0.88), headers=lot.exit.headers
    )
    fee = ex.json()["fee_vnd"]
    proof = (await client.get(f"/v1/sessions/{sid}/fee", headers=lot.exit.headers)).json()
    assert proof["final"] is True and proof["total_vnd"] == fee == 120000  # 2×25,000 + 2×35,000 (4 started hours)
    assert sum(line["amount_vnd"] for line in proof["lines"]) == fee
    assert [(x["name_vi"], x["quantity"], x["unit_vi"], x["unit_price_vnd"]) for x in proof["lines"]] == [
        ("Giờ thứ 1–2", 2, "giờ", 25000),
        ("Giờ thứ 3–4", 2, "giờ", 35000),
    ]
    assert proof["tariff"] == {"tariff_id": "hanoi-44-2017", "version": "1"}
    assert proof["entry"]["confidence"] == 0.91 and proof["exit"]["confidence"] == 0.88
    assert proof["entry"]["lane"] == "E1" and proof["entry_at_local"].count("/") == 2
    assert proof["stay_minutes"] >= 190 and "3 giờ" in proof["stay_text_vi"]
    assert proof["crops"]["exit"] is None and proof["crops"]["entry"] == f"/v1/sessions/{sid}/crops/entry"
    crop = await client.get(proof["crops"]["entry"], headers=lot.exit.headers)
    assert crop.status_code == 200 and crop.content == TINY_JPEG
    assert (await client.get(proof["crops"]["entry"])).status_code == 401
    staff = await staff_headers(sessionmaker, lot.operator_id)
    assert (await client.get(f"/v1/sessions/{uuid.uuid4()}/fee", headers=staff)).status_code == 404


LINES = st.sampled_from(
    [
        {"rule": "motorbike-urban/day_turn", "description": "day turn (06:00–18:00)", "unit": "turn"},
        {"rule": "motorbike-urban/night_turn", "description": "night turn (18:00–06:00)", "unit": "turn"},
        {"rule": "x/day_and_night_turn", "description": "day-and-night turn", "unit": "turn"},
        {"rule": "car/step", "description": "hours 1–2", "unit": "hour"},
        {"rule": "car/step", "description": "hour 5, full 24 h period", "unit": "hour"},
        {"rule": "car/step", "description": "blocks 1–3 of 30 min", "unit": "30 min"},
        {"rule": "car/daily_cap", "description": "daily cap 300,000 per 24 h", "unit": "24 h"},
        {"rule": "car/grace", "description": "free: stay of at most 15 minutes", "unit": "stay"},
    ]
)


@given(LINES, st.integers(0, 50), st.integers(-(10**6), 10**6))
def test_every_line_gets_both_names_and_keeps_its_figures(line: dict, units: int, price: int) -> None:
    full = {**line, "units": units, "unit_price_vnd": price, "amount_vnd": units * price}
    vi, en = line_names(full)
    shown = describe_line(full)
    assert vi and en == line["description"]
    assert vi != en  # a Vietnamese name, not the English one copied
    assert (shown["quantity"], shown["unit_price_vnd"], shown["amount_vnd"]) == (units, price, units * price)
