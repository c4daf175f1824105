"""Issues 9.8 / 14.4: no provider call while holding a lot-wide lock or an open transaction.

The provider simulator holds its answer (it charges, then hangs past the exit's charge deadline). While the exit
waits for it, the lot's capacity rows must be free and entries to the same lot must go through.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.models import ParkingSession, Payment
from parking.payments.settings import get_payment_settings, use_payment_settings
from tests.factories import LotHandle, event, random_car_plate
from tests.parking.payments.conftest import Sim, make_driver


async def _capacity_rows_free(sm: async_sessionmaker[AsyncSession], lot: LotHandle) -> bool:
    async with sm() as db:
        try:
            await db.execute(
                text("SELECT 1 FROM lot_capacities WHERE lot_id = :lot FOR UPDATE NOWAIT"), {"lot": lot.id}
            )
            return True
        except DBAPIError as exc:
            if "could not obtain lock" in str(exc):
                return False
            raise
        finally:
            await db.rollback()


async def test_entries_of_the_lot_go_through_while_the_exit_waits_for_the_provider(
    client: httpx.AsyncClient, sim: Sim, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    before = get_payment_settings()
    # A deadline long enough that the ordering below cannot be a race: the simulator hangs 4 s after charging.
    use_payment_settings(before.model_copy(update={"charge_deadline_s": 3.0}))
    try:
        d = await make_driver(client, sim)
        now = datetime.now(UTC)
        r = await client.post(
            "/v1/gate/events", json=event("entry", d.plate, at=now - timedelta(hours=2)), headers=lot.entry.headers
        )
        assert r.status_code == 200 and r.json()["action"] == "open"
        tokens = {c["token"] for c in (await sim.ledger())["charges"]}
        await sim.fault("timeout_after_charge")
        exit_task = asyncio.create_task(
            client.post("/v1/gate/events", json=event("exit", d.plate, at=now), headers=lot.exit.headers)
        )
        # Wait until the provider has the charge (and is holding its answer): the API is now waiting for it.
        for _ in range(200):
            new = [c for c in (await sim.ledger())["charges"] if c["token"] not in tokens]
            if new:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the exit never reached the provider")
        assert not exit_task.done()

        assert await _capacity_rows_free(sessionmaker, lot), "the exit holds the lot's capacity rows during the call"
        other = random_car_plate()
        entry = await client.post("/v1/gate/events", json=event("entry", other), headers=lot.entry.headers)
        assert entry.status_code == 200 and entry.json()["action"] == "open"
        assert not exit_task.done(), "the entry waited for the provider's answer"
        async with sessionmaker() as db:
            # The exit's first transaction is committed: the session is closed before the charge's outcome is known.
            closed = (
                await db.execute(
                    select(ParkingSession.status).where(
                        ParkingSession.lot_id == lot.id, ParkingSession.plate == d.plate
                    )
                )
            ).scalar_one()
            assert closed == "closed"

        answer = await exit_task
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["action"] == "open" and "charge_pending" in body["flags"], body
        sid = body["session_id"]
        # Exactly once: the inline attempt and the background completion share the idempotency key.
        assert len(await sim.charges_for(f"exit-{sid}")) == 1
        async with sessionmaker() as db:
            p = (await db.execute(select(Payment).where(Payment.session_id == uuid.UUID(sid)))).scalar_one()
            assert p.status in ("pending", "confirmed") and p.idempotency_key == f"exit-{sid}"
        # Leave the lot clean for other tests.
        await client.post("/v1/gate/events", json=event("exit", other), headers=lot.exit.headers)
    finally:
        use_payment_settings(before)
