"""Payments fixtures: the provider simulator as a real HTTP server, wired to the live API, and the
ledger invariant checked after every test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.payments.settings import PaymentSettings, use_payment_settings
from tests.factories import LotHandle, event, make_lot, make_staff, random_car_plate
from tests.factories.payment_simulator import run_simulator

SECRET = "payments-test-secret"
# The headers of an admin who approves the plate claims of `make_driver`: a fresh plate has parked nowhere, and
# such a claim goes to the admins (of any operator). Filled by the autouse `claims_admin` fixture.
OP: dict[str, str] = {}


@pytest.fixture(scope="session", autouse=True)
async def claims_admin(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    if not OP:
        lot = await make_lot(sessionmaker, capacities={"car_small": 1})
        OP.update((await make_staff(sessionmaker, lot.operator_id, "admin")).headers)
    return OP


@dataclass
class Sim:
    url: str
    http: httpx.AsyncClient

    async def new_account(self, balance_vnd: int = 1_000_000) -> str:
        r = await self.http.post("/accounts", json={"owner": "test", "balance_vnd": balance_vnd})
        return str(r.json()["token"])

    async def fault(self, mode: str, count: int = 1) -> None:
        (await self.http.post("/_faults", json={"mode": mode, "count": count})).raise_for_status()

    async def ledger(self) -> dict[str, Any]:
        return (await self.http.get("/_ledger")).json()

    async def charges_for(self, key: str) -> list[dict[str, Any]]:
        return [c for c in (await self.ledger())["charges"] if c["idempotency_key"] == key]


@pytest.fixture(scope="session")
def payment_sim_url(live_server: Any) -> Iterator[str]:
    with run_simulator(SECRET, webhook_url=live_server.url, timeout_hang_s=4.0) as url:
        use_payment_settings(
            PaymentSettings(
                provider_base_url=url,
                provider_secret=SECRET,
                charge_deadline_s=1.0,
                sepay_auth="hmac",  # the simulator's webhook uses SePay's HMAC method
                sepay_api_key=SECRET,
                sepay_hmac_secret=SECRET,
                vnpay_hash_secret=SECRET,
                default_deferred_limit_vnd=300_000,
            )
        )
        yield url
        use_payment_settings(None)


@pytest.fixture
async def sim(payment_sim_url: str) -> AsyncIterator[Sim]:
    async with httpx.AsyncClient(base_url=payment_sim_url, timeout=15) as http:
        await http.delete("/_faults")
        yield Sim(payment_sim_url, http)
        await http.delete("/_faults")


@pytest.fixture(autouse=True)
async def ledger_invariant(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """After every DB-backed test: every journal entry's postings sum to zero."""
    yield
    if "sessionmaker" not in request.fixturenames:
        return
    sm: async_sessionmaker[AsyncSession] = request.getfixturevalue("sessionmaker")
    async with sm() as db:
        bad = (
            await db.execute(
                text(
                    "SELECT entry_id, sum(amount_vnd), count(*) FROM ledger_postings GROUP BY entry_id "
                    "HAVING sum(amount_vnd) <> 0 OR count(*) < 2"
                )
            )
        ).all()
        orphan_entries = (
            await db.execute(
                text(
                    "SELECT e.id FROM ledger_entries e LEFT JOIN ledger_postings p ON p.entry_id = e.id "
                    "WHERE p.id IS NULL"
                )
            )
        ).all()
    assert bad == [], f"unbalanced ledger entries: {bad}"
    assert orphan_entries == [], f"ledger entries without postings: {orphan_entries}"


@dataclass
class Driver:
    token: str
    id: str
    plate: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def make_driver(
    client: httpx.AsyncClient,
    sim: Sim | None,
    *,
    plate: str | None = None,
    balance_vnd: int = 1_000_000,
    link: bool = True,
    vehicle_class: str = "car_small",
    approver: dict[str, str] | None = None,
) -> Driver:
    """A driver with `plate` linked through an approved claim. A plate that has parked is approved by staff of
    its lot's operator (`approver`); one that parked nowhere by an admin of any operator (`OP`)."""
    email = f"d{uuid.uuid4().hex[:10]}@example.vn"
    r = await client.post("/v1/drivers/register", json={"email": email, "password": "correct horse 1"})
    assert r.status_code == 201, r.text
    driver_id = r.json()["id"]
    r = await client.post("/v1/drivers/login", json={"email": email, "password": "correct horse 1"})
    token = r.json()["access_token"]
    d = Driver(token, driver_id, plate or random_car_plate())
    r = await client.post(
        "/v1/drivers/me/vehicles", json={"plate": d.plate, "vehicle_class": vehicle_class}, headers=d.headers
    )
    # An unproven plate is a claim (issue 13.4): the operator approves it, having seen the papers, with the
    # holding's start far back so that the plate's earlier debts are the driver's.
    assert r.status_code == 202, r.text
    r = await client.post(
        f"/v1/operator/vehicle-claims/{r.json()['id']}/decision",
        json={"approve": True, "reason": "registration papers seen", "history_from": "2000-01-01T00:00:00+07:00"},
        headers=approver or OP,
    )
    assert r.status_code == 200 and r.json()["status"] == "approved", r.text
    d.plate = r.json()["plate"]
    if link:
        assert sim is not None
        tok = await sim.new_account(balance_vnd)
        r = await client.post(
            "/v1/drivers/me/payment-methods",
            json={"provider_token": tok, "kind": "ewallet"},
            headers=d.headers,
        )
        assert r.status_code == 201, r.text
    return d


async def park(
    client: httpx.AsyncClient, lot: LotHandle, plate: str, *, hours: float = 3.0, **exit_extra: Any
) -> dict[str, Any]:
    """Enter `hours` ago and exit now; returns the exit decision."""
    now = datetime.now(UTC)
    r = await client.post(
        "/v1/gate/events",
        json=event("entry", plate, at=now - timedelta(hours=hours)),
        headers=lot.entry.headers,
    )
    assert r.status_code == 200 and r.json()["action"] == "open", r.text
    r = await client.post("/v1/gate/events", json=event("exit", plate, at=now, **exit_extra), headers=lot.exit.headers)
    assert r.status_code == 200, r.text
    return r.json()
