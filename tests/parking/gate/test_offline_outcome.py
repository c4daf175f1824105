"""The lane's offline outcome is reported as its own fact (``/v1/gate/events/{id}/outcome``), never as a
rewritten event body: the event keeps its request hash, and the car that left owes a debt (issue 13.1)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.models import Debt, GateEvent, LotCapacity, ParkingSession
from tests.factories import LotHandle, event, make_lot


def _outcome(event_id: str) -> str:
    return f"/v1/gate/events/{event_id}/outcome"


async def test_exit_answered_pay_then_opened_offline_closes_with_a_debt(
    client: httpx.AsyncClient, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    now = datetime.now(UTC)
    plate = "29A-711.22"
    r = await client.post(
        "/v1/gate/events", json=event("entry", plate, at=now - timedelta(hours=3)), headers=lot.entry.headers
    )
    assert r.json()["action"] == "open"
    exit_ev = event("exit", plate, at=now)
    first = (await client.post("/v1/gate/events", json=exit_ev, headers=lot.exit.headers)).json()
    assert first["action"] == "pay" and first["fee_vnd"] > 0
    # The answer never reached the lane: it opened on its own and now says so, separately.
    r = await client.post(_outcome(exit_ev["event_id"]), json={"outcome": "opened"}, headers=lot.exit.headers)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["replayed"] is False and out["session_status"] == "closed" and "debt_recorded" in out["flags"]
    again = await client.post(_outcome(exit_ev["event_id"]), json={"outcome": "opened"}, headers=lot.exit.headers)
    assert again.status_code == 200 and again.json()["replayed"] is True
    # The original event, resent unchanged, is still the same event (not a 409 conflict).
    replay = await client.post("/v1/gate/events", json=exit_ev, headers=lot.exit.headers)
    assert replay.status_code == 200 and replay.json()["replayed"] is True
    async with sessionmaker() as db:
        sess = (
            await db.execute(select(ParkingSession).where(ParkingSession.id == uuid.UUID(first["session_id"])))
        ).scalar_one()
        debts = list((await db.execute(select(Debt).where(Debt.session_id == sess.id))).scalars())
        ge = (await db.execute(select(GateEvent).where(GateEvent.id == uuid.UUID(exit_ev["event_id"])))).scalar_one()
    assert sess.status == "closed" and "opened_offline" in sess.flags and sess.payment_status == "debt"
    assert [d.amount_vnd for d in debts] == [first["fee_vnd"]]
    assert ge.offline_action == "opened"


async def test_entry_refused_as_full_but_opened_offline_opens_the_session(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    lot = await make_lot(sessionmaker, capacities={"car_small": 1})
    r = await client.post("/v1/gate/events", json=event("entry", "30A-100.01"), headers=lot.entry.headers)
    assert r.json()["action"] == "open"
    ev = event("entry", "30A-100.02")
    r = await client.post("/v1/gate/events", json=ev, headers=lot.entry.headers)
    assert r.json()["action"] == "refuse" and r.json()["session_id"] is None
    r = await client.post(_outcome(ev["event_id"]), json={"outcome": "opened"}, headers=lot.entry.headers)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["session_status"] == "open" and "over_capacity" in out["flags"]
    async with sessionmaker() as db:
        open_ = list(
            (
                await db.execute(
                    select(ParkingSession).where(ParkingSession.lot_id == lot.id, ParkingSession.status == "open")
                )
            ).scalars()
        )
        occ = (await db.execute(select(LotCapacity.occupied).where(LotCapacity.lot_id == lot.id))).scalar_one()
    assert sorted(s.plate or "" for s in open_) == ["30A10001", "30A10002"]
    assert occ == 2


async def test_outcome_of_an_unknown_or_foreign_event_is_a_json_404(
    client: httpx.AsyncClient, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    r = await client.post(_outcome(str(uuid.uuid4())), json={"outcome": "opened"}, headers=lot.exit.headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "event_not_found"
    other = await make_lot(sessionmaker, capacities={"car_small": 5})
    ev = event("entry", "30A-100.03")
    assert (await client.post("/v1/gate/events", json=ev, headers=other.entry.headers)).status_code == 200
    r = await client.post(_outcome(ev["event_id"]), json={"outcome": "opened"}, headers=lot.entry.headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "event_not_found"
