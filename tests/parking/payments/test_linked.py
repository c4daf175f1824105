"""Exit with a linked account, over real HTTP: API ↔ provider simulator, PostgreSQL, Redis, outbox."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import httpx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.invoices import xml as X
from parking.ledger import repository as ledger_repository
from parking.models import Invoice, ParkingSession, Payment
from parking.payments import exit_hook, repository
from tests.factories import LotHandle, event
from tests.parking.payments.conftest import Sim, make_driver, park

T = TypeVar("T")


async def wait_for(predicate: Callable[[], Awaitable[T | None]], within: float = 20.0, every: float = 0.2) -> T:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(every)


async def payment_of(sm: async_sessionmaker[AsyncSession], session_id: str) -> Payment | None:
    async with sm() as db:
        return (await db.execute(select(Payment).where(Payment.idempotency_key == f"exit-{session_id}"))).scalar()


async def owed(sm: async_sessionmaker[AsyncSession], session_id: str) -> int:
    async with sm() as db:
        return await ledger_repository.receivable_outstanding(db, uuid.UUID(session_id))


async def test_linked_car_leaves_without_stopping_and_is_charged_once(
    client: httpx.AsyncClient, sim: Sim, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    d = await make_driver(client, sim)
    decision = await park(client, lot, d.plate, hours=3)
    assert decision["action"] == "open", decision
    assert "linked_account" in decision["flags"]
    sid, fee = decision["session_id"], decision["fee_vnd"]
    assert fee > 0
    charges = await sim.charges_for(f"exit-{sid}")
    assert len(charges) == 1 and charges[0]["amount_vnd"] == fee and charges[0]["status"] == "succeeded"
    p = await payment_of(sessionmaker, sid)
    assert p is not None and p.status == "confirmed" and p.provider_txn_id == charges[0]["id"]
    assert await owed(sessionmaker, sid) == 0
    async with sessionmaker() as db:
        s = (await db.execute(select(ParkingSession).where(ParkingSession.id == uuid.UUID(sid)))).scalar_one()
        assert s.payment_status == "paid"
    r = await client.get("/v1/drivers/me/sessions", headers=d.headers)
    assert any(x["id"] == sid and x["payment_status"] == "paid" for x in r.json())
    # Always a receipt: the exit answer carries the e-invoice link, and the invoice describes this stay.
    assert decision["receipt_url"] and "/r/M1-" in decision["receipt_url"]
    page = await client.get(decision["receipt_url"])
    assert page.status_code == 200
    async with sessionmaker() as db:
        inv = (await db.execute(select(Invoice).where(Invoice.payment_id == p.id))).scalar_one()
    info = X.read_view(X.from_bytes(inv.xml.encode())).lines[0].info
    assert inv.total_vnd == fee
    assert info["TGRa"] == X.vn_datetime(s.exit_at) and info["TGVao"] == X.vn_datetime(s.entry_at)
    assert info["BangGia"].startswith("hanoi-44-2017")


async def test_replayed_exit_event_charges_once(client: httpx.AsyncClient, sim: Sim, lot: LotHandle) -> None:
    d = await make_driver(client, sim)
    now = datetime.now(UTC)
    await client.post(
        "/v1/gate/events",
        json=event("entry", d.plate, at=now - timedelta(hours=2)),
        headers=lot.entry.headers,
    )
    ex = event("exit", d.plate, at=now)
    # The lane retries the same event concurrently (store-and-forward after a network blip).
    answers = await asyncio.gather(
        *[client.post("/v1/gate/events", json=ex, headers=lot.exit.headers) for _ in range(4)]
    )
    bodies = [a.json() for a in answers if a.status_code == 200]
    assert bodies and all(b["action"] == "open" for b in bodies)
    sid = bodies[0]["session_id"]
    assert {b["session_id"] for b in bodies} == {sid}
    assert len(await sim.charges_for(f"exit-{sid}")) == 1


async def test_concurrent_exit_decisions_for_one_session_charge_once(
    client: httpx.AsyncClient, sim: Sim, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Two exit decisions racing for the same session (two cameras, two API instances)."""
    d = await make_driver(client, sim)
    now = datetime.now(UTC)
    r = await client.post(
        "/v1/gate/events",
        json=event("entry", d.plate, at=now - timedelta(hours=1)),
        headers=lot.entry.headers,
    )
    sid = uuid.UUID(r.json()["session_id"])
    ctx = exit_hook.ExitContext(
        session_id=sid,
        lot_id=lot.id,
        lane_id=lot.exit.id,
        plate_norm=d.plate,
        vehicle_class="car_small",
        fee_vnd=25_000,
        exited_at=now,
    )

    async def one() -> exit_hook.ExitPayment:
        async with sessionmaker() as db:
            out = await exit_hook.decide_exit(db, ctx)
            await db.commit()
            return out

    outs = await asyncio.gather(*[one() for _ in range(5)])
    assert all(o.action == "open" for o in outs), outs
    assert len(await sim.charges_for(f"exit-{sid}")) == 1
    assert (await sim.charges_for(f"exit-{sid}"))[0]["amount_vnd"] == 25_000
    async with sessionmaker() as db:
        n = (
            await db.execute(text("SELECT count(*) FROM ledger_entries WHERE session_id = :s"), {"s": sid})
        ).scalar_one()
        assert n == 2  # one fee recognition, one payment: the races added nothing
        assert await ledger_repository.receivable_outstanding(db, sid) == 0
    # Close the session so the lot's open-plate index stays clean for other tests.
    await client.post("/v1/gate/events", json=event("exit", d.plate), headers=lot.exit.headers)


async def test_provider_times_out_after_charging(
    client: httpx.AsyncClient, sim: Sim, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    d = await make_driver(client, sim)
    await sim.fault("timeout_after_charge")
    decision = await park(client, lot, d.plate, hours=2)
    # The provider charged but did not answer within the deadline: the lane opens anyway.
    assert decision["action"] == "open" and "charge_pending" in decision["flags"], decision
    sid, fee = decision["session_id"], decision["fee_vnd"]
    assert (await payment_of(sessionmaker, sid)).status == "pending"  # type: ignore[union-attr]

    async def confirmed() -> bool:
        p = await payment_of(sessionmaker, sid)
        return p is not None and p.status == "confirmed"

    await wait_for(confirmed)  # the outbox retried with the same idempotency key
    charges = await sim.charges_for(f"exit-{sid}")
    assert len(charges) == 1 and charges[0]["amount_vnd"] == fee
    p = await payment_of(sessionmaker, sid)
    assert p is not None and p.provider_txn_id == charges[0]["id"]
    assert await owed(sessionmaker, sid) == 0


async def test_provider_500_is_retried_in_background(
    client: httpx.AsyncClient, sim: Sim, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    d = await make_driver(client, sim)
    await sim.fault("http_500")
    decision = await park(client, lot, d.plate, hours=2)
    assert decision["action"] == "open" and decision["flags"].count("charge_pending") == 1
    sid = decision["session_id"]

    async def confirmed() -> bool:
        p = await payment_of(sessionmaker, sid)
        return p is not None and p.status == "confirmed"

    await wait_for(confirmed)
    assert len(await sim.charges_for(f"exit-{sid}")) == 1


async def test_over_deferred_limit_waits_then_opens_on_background_confirmation(
    client: httpx.AsyncClient,
    sim: Sim,
    lot: LotHandle,
    sessionmaker: async_sessionmaker[AsyncSession],
    live_server: object,
) -> None:
    d = await make_driver(client, sim)
    async with sessionmaker() as db:
        await db.execute(text("UPDATE drivers SET deferred_limit_vnd = 0 WHERE id = :i"), {"i": d.id})
        await db.commit()
    from redis.asyncio import Redis

    redis = Redis.from_url(live_server.settings.redis_url, decode_responses=True)  # type: ignore[attr-defined]
    pubsub = redis.pubsub()
    await pubsub.subscribe(f"lane:{lot.exit.id}:commands")
    try:
        await sim.fault("timeout_after_charge")
        decision = await park(client, lot, d.plate, hours=2)
        assert decision["action"] == "attendant" and "over_deferred_limit" in decision["flags"], decision
        sid = decision["session_id"]

        async def command() -> dict[str, str] | None:
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
            return json.loads(msg["data"]) if msg else None

        cmd = await wait_for(command)
        assert cmd == {"type": "open", "session_id": sid, "reason": "payment_confirmed"}
        assert len(await sim.charges_for(f"exit-{sid}")) == 1
    finally:
        await pubsub.aclose()
        await redis.aclose()


async def test_declined_linked_account_falls_back_to_vietqr(
    client: httpx.AsyncClient, sim: Sim, lot: LotHandle
) -> None:
    d = await make_driver(client, sim, balance_vnd=1_000)
    decision = await park(client, lot, d.plate, hours=2)
    assert decision["action"] == "pay" and "charge_declined" in decision["flags"], decision
    assert decision["payment"]["qr_payload"].startswith("000201")
    assert (await sim.ledger())["totals"]["charged_vnd"] >= 0
    assert [c["status"] for c in await sim.charges_for(f"exit-{decision['session_id']}")] == ["declined"]


async def test_offline_exit_of_linked_car_is_charged_later(
    client: httpx.AsyncClient, sim: Sim, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    d = await make_driver(client, sim)
    decision = await park(client, lot, d.plate, hours=2, offline_action="opened")
    assert decision["action"] == "open"
    sid = decision["session_id"]

    async def confirmed() -> bool:
        p = await payment_of(sessionmaker, sid)
        return p is not None and p.status == "confirmed"

    await wait_for(confirmed)
    assert len(await sim.charges_for(f"exit-{sid}")) == 1


async def test_crash_after_provider_call_before_commit_does_not_double_charge(
    client: httpx.AsyncClient, sim: Sim, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """The provider charged, then our transaction died: the lane's retry must find that same charge."""
    d = await make_driver(client, sim)
    now = datetime.now(UTC)
    r = await client.post(
        "/v1/gate/events",
        json=event("entry", d.plate, at=now - timedelta(hours=1)),
        headers=lot.entry.headers,
    )
    sid = uuid.UUID(r.json()["session_id"])
    ctx = exit_hook.ExitContext(
        session_id=sid,
        lot_id=lot.id,
        lane_id=lot.exit.id,
        plate_norm=d.plate,
        vehicle_class="car_small",
        fee_vnd=30_000,
        exited_at=now,
    )
    async with sessionmaker() as db:
        first = await exit_hook.decide_exit(db, ctx)
        assert first.payment_status == "paid"
        await db.rollback()  # the crash: nothing of ours survives, the provider's charge does
    assert len(await sim.charges_for(f"exit-{sid}")) == 1
    async with sessionmaker() as db:
        again = await exit_hook.decide_exit(db, ctx)
        await db.commit()
    assert again.action == "open" and again.payment_status == "paid"
    charges = await sim.charges_for(f"exit-{sid}")
    assert len(charges) == 1
    p = await payment_of(sessionmaker, str(sid))
    assert p is not None and p.provider_txn_id == charges[0]["id"]
    await client.post("/v1/gate/events", json=event("exit", d.plate), headers=lot.exit.headers)


async def test_commit_then_crash_before_provider_call_is_finished_by_outbox(
    client: httpx.AsyncClient, sim: Sim, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Our commit happened, the provider call did not (offline path = enqueue only): the outbox charges."""
    d = await make_driver(client, sim)
    now = datetime.now(UTC)
    r = await client.post(
        "/v1/gate/events",
        json=event("entry", d.plate, at=now - timedelta(hours=1)),
        headers=lot.entry.headers,
    )
    sid = uuid.UUID(r.json()["session_id"])
    ctx = exit_hook.ExitContext(
        session_id=sid,
        lot_id=lot.id,
        lane_id=lot.exit.id,
        plate_norm=d.plate,
        vehicle_class="car_small",
        fee_vnd=20_000,
        exited_at=now,
        offline=True,
    )
    async with sessionmaker() as db:
        out = await exit_hook.decide_exit(db, ctx)
        await db.commit()
    assert out.payment_status == "charging" and await sim.charges_for(f"exit-{sid}") == []

    async def confirmed() -> bool:
        p = await payment_of(sessionmaker, str(sid))
        return p is not None and p.status == "confirmed"

    await wait_for(confirmed)
    assert len(await sim.charges_for(f"exit-{sid}")) == 1
    await client.post("/v1/gate/events", json=event("exit", d.plate), headers=lot.exit.headers)


async def test_invoice_at_exit_can_go_through_the_outbox(
    client: httpx.AsyncClient, sim: Sim, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Opt-in latency mode: the exit's confirmation enqueues `invoice.issue` in its own transaction."""
    from parking.payments.settings import get_payment_settings, use_payment_settings

    before = get_payment_settings()
    use_payment_settings(before.model_copy(update={"invoice_at_exit_via_outbox": True}))
    try:
        d = await make_driver(client, sim)
        decision = await park(client, lot, d.plate, hours=2)
    finally:
        use_payment_settings(before)
    p = await payment_of(sessionmaker, decision["session_id"])
    assert p is not None and p.status == "confirmed"
    async with sessionmaker() as db:
        n = (
            await db.execute(text("SELECT count(*) FROM outbox WHERE key = :k"), {"k": f"invoice.issue:{p.id}"})
        ).scalar_one()
    assert n == 1


async def test_seed_demo_driver_is_idempotent(db: AsyncSession) -> None:
    from parking.demo import drivers as demo
    from parking.payments.demo import DEMO_WALLET

    email = f"demo-{uuid.uuid4().hex[:8]}@example.vn"
    plate = f"88Z{uuid.uuid4().int % 100000:05d}"
    first = await demo.seed_demo_driver(db, email=email, plates=(plate,))
    second = await demo.seed_demo_driver(db, email=email, plates=(plate,))
    assert first == second and first["wallet"] == DEMO_WALLET
    linked = await repository.linked_method_for_plate(db, plate)
    assert linked is not None and linked[1].token == DEMO_WALLET
    from parking.payments import demo as payments_demo

    name, cmd = payments_demo.simulator_command("http://127.0.0.1:8000")
    assert name == "payment-provider" and f"{DEMO_WALLET}:{payments_demo.DEMO_WALLET_BALANCE_VND}" in cmd
