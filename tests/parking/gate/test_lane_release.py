"""The exit lane lets an unpaid car out after the lot's QR wait: the fee becomes a debt (issue 12.8)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.models import Debt, Lot, ParkingSession, PaymentIntent
from tests.factories import LotHandle, event, random_car_plate


async def pay_exit(client: httpx.AsyncClient, lot: LotHandle) -> dict:
    plate = random_car_plate()
    at = datetime.now(UTC)
    await client.post(
        "/v1/gate/events", json=event("entry", plate, at=at - timedelta(hours=2)), headers=lot.entry.headers
    )
    d = (await client.post("/v1/gate/events", json=event("exit", plate, at=at), headers=lot.exit.headers)).json()
    assert d["action"] == "pay", d
    return d


async def test_the_decision_carries_the_lots_wait_and_the_release_books_a_debt(
    client: httpx.AsyncClient, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    d = await pay_exit(client, lot)
    assert (d["payment"]["lane_wait_s"], d["payment"]["on_timeout"]) == (20, "debt")
    sid = d["session_id"]
    url = f"/v1/gate/sessions/{sid}/left-unpaid"
    assert (await client.post(url)).status_code == 401
    assert (await client.post(url, headers=lot.entry.headers)).status_code == 403
    r = await client.post(url, headers=lot.exit.headers)
    assert r.status_code == 200 and r.json()["amount_vnd"] == d["fee_vnd"]
    again = await client.post(url, headers=lot.exit.headers)
    assert again.json()["debt_id"] == r.json()["debt_id"]  # reported twice, booked once
    async with sessionmaker() as db:
        s = (await db.execute(select(ParkingSession).where(ParkingSession.id == uuid.UUID(sid)))).scalar_one()
        debts = (await db.execute(select(Debt).where(Debt.session_id == s.id))).scalars().all()
        intents = (await db.execute(select(PaymentIntent.status).where(PaymentIntent.session_id == s.id))).scalars()
        assert s.payment_status == "debt" and [x.amount_vnd for x in debts] == [d["fee_vnd"]]
        assert set(intents) == {"expired"}


async def test_attendant_policy_refuses_the_release(
    client: httpx.AsyncClient, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with sessionmaker() as db:
        await db.execute(update(Lot).where(Lot.id == lot.id).values(unpaid_qr_policy="attendant", qr_lane_wait_s=45))
        await db.commit()
    d = await pay_exit(client, lot)
    assert (d["payment"]["lane_wait_s"], d["payment"]["on_timeout"]) == (45, "attendant")
    r = await client.post(f"/v1/gate/sessions/{d['session_id']}/left-unpaid", headers=lot.exit.headers)
    assert r.status_code == 409 and r.json()["error"]["code"] == "policy_attendant"


async def test_the_operator_sets_the_wait_policy_and_hours(
    client: httpx.AsyncClient, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    from tests.parking.drivers.conftest import staff_headers

    sup = await staff_headers(sessionmaker, lot.operator_id, "supervisor")
    # Another operator's staff: the lot does not exist for them; an auditor reads but never sets.
    stranger = await staff_headers(sessionmaker, None, "admin")
    r = await client.patch(f"/v1/operator/lots/{lot.code}", json={"qr_lane_wait_s": 60}, headers=stranger)
    assert r.status_code == 404, r.text
    auditor = await staff_headers(sessionmaker, lot.operator_id, "auditor")
    r = await client.patch(f"/v1/operator/lots/{lot.code}", json={"qr_lane_wait_s": 60}, headers=auditor)
    assert r.status_code == 403, r.text

    url = f"/v1/operator/lots/{lot.code}"
    assert (await client.patch(url, json={"qr_lane_wait_s": 30})).status_code == 401
    r = await client.patch(
        url,
        json={"qr_lane_wait_s": 30, "unpaid_qr_policy": "attendant", "opens_at": "06:00", "closes_at": "22:30"},
        headers=sup,
    )
    assert r.status_code == 200, r.text
    assert (r.json()["qr_lane_wait_s"], r.json()["unpaid_qr_policy"], r.json()["closes_at"]) == (
        30,
        "attendant",
        "22:30",
    )
    d = await pay_exit(client, lot)
    assert (d["payment"]["lane_wait_s"], d["payment"]["on_timeout"]) == (30, "attendant")
    assert (await client.patch(url, json={"qr_lane_wait_s": 1}, headers=sup)).status_code == 422
    r = await client.patch(url, json={"always_open": True}, headers=sup)
    assert r.json()["opens_at"] is None and r.json()["closes_at"] is None
    r = await client.patch(url, json={"opens_at": "07:00"}, headers=sup)
    assert r.status_code == 422 and r.json()["error"]["code"] == "hours_incomplete"
