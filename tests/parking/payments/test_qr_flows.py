"""Exit without a linked account: dynamic VietQR, signed bank notifications, debts, refunds, passes."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.ledger import repository as ledger_repository
from parking.models import ParkingSession, Payment, PaymentNotification, Refund
from parking.payments import notifications, vietqr
from tests.factories import LotHandle, event, make_lot, make_staff, random_car_plate
from tests.parking.payments.conftest import SECRET, Sim, make_driver, park
from tests.parking.payments.test_linked import wait_for


@pytest.fixture
async def lane_commands(live_server: Any, lot: LotHandle) -> AsyncIterator[Any]:
    redis = Redis.from_url(live_server.settings.redis_url, decode_responses=True)
    pubsub = redis.pubsub()
    await pubsub.subscribe(f"lane:{lot.exit.id}:commands")

    async def next_command(within: float = 15.0) -> dict[str, str]:
        async def one() -> dict[str, str] | None:
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.3)
            return json.loads(msg["data"]) if msg else None

        return await wait_for(one, within=within, every=0.05)

    async def no_command(seconds: float = 1.5) -> bool:
        msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=seconds)
        return msg is None

    next_command.none = no_command  # type: ignore[attr-defined]
    yield next_command
    await pubsub.aclose()
    await redis.aclose()


async def session_row(sm: async_sessionmaker[AsyncSession], sid: str) -> ParkingSession:
    async with sm() as db:
        return (await db.execute(select(ParkingSession).where(ParkingSession.id == uuid.UUID(sid)))).scalar_one()


async def payments_for(sm: async_sessionmaker[AsyncSession], sid: str) -> list[Payment]:
    async with sm() as db:
        return list((await db.execute(select(Payment).where(Payment.session_id == uuid.UUID(sid)))).scalars())


async def unlinked_exit(client: httpx.AsyncClient, lot: LotHandle, hours: float = 2.0) -> dict[str, Any]:
    decision = await park(client, lot, random_car_plate(), hours=hours)
    assert decision["action"] == "pay", decision
    return decision


async def test_unlinked_car_pays_by_vietqr_and_barrier_opens_on_confirmation(
    client: httpx.AsyncClient,
    sim: Sim,
    lot: LotHandle,
    sessionmaker: async_sessionmaker[AsyncSession],
    lane_commands: Any,
) -> None:
    decision = await unlinked_exit(client, lot)
    pay = decision["payment"]
    qr = vietqr.decode(pay["qr_payload"])  # a valid NAPAS payload, decoded back
    assert qr.amount_vnd == decision["fee_vnd"] == pay["amount_vnd"] and qr.reference == pay["reference"]
    assert qr.service == "QRIBFTTA" and vietqr.is_reference(pay["reference"])
    assert await lane_commands.none(0.5)  # nothing opens before the money arrives
    r = await sim.http.post("/vietqr/pay", json={"qr_payload": pay["qr_payload"], "channel": "sepay"})
    assert r.status_code == 201
    cmd = await lane_commands()
    assert cmd == {"type": "open", "session_id": decision["session_id"], "reason": "payment_confirmed"}
    assert (await session_row(sessionmaker, decision["session_id"])).payment_status == "paid"
    [p] = await payments_for(sessionmaker, decision["session_id"])
    assert p.status == "confirmed" and p.method == "vietqr" and p.amount_vnd == decision["fee_vnd"]
    r = await client.get(f"/v1/payments/intents/{pay['reference']}")
    assert r.json()["status"] == "paid"


async def test_vnpay_ipn_confirms_and_answers_confirm_success(
    client: httpx.AsyncClient,
    sim: Sim,
    lot: LotHandle,
    sessionmaker: async_sessionmaker[AsyncSession],
    lane_commands: Any,
) -> None:
    decision = await unlinked_exit(client, lot)
    r = await sim.http.post("/vietqr/pay", json={"qr_payload": decision["payment"]["qr_payload"], "channel": "vnpay"})
    assert r.status_code == 201
    await lane_commands()

    async def delivered() -> list[dict[str, Any]]:
        return [x for x in (await sim.ledger())["deliveries"] if x["channel"] == "vnpay" and x["status"] == 200]

    answers = [json.loads(x["response"]) for x in await wait_for(delivered)]
    assert {"RspCode": "00", "Message": "Confirm Success"} in answers
    [p] = await payments_for(sessionmaker, decision["session_id"])
    assert p.provider == "vnpay" and p.amount_vnd == decision["fee_vnd"]


async def test_duplicate_notifications_book_one_payment(
    client: httpx.AsyncClient,
    sim: Sim,
    lot: LotHandle,
    sessionmaker: async_sessionmaker[AsyncSession],
    lane_commands: Any,
) -> None:
    decision = await unlinked_exit(client, lot)
    await sim.fault("duplicate_notification")
    # Both shapes, each delivered twice: the bank webhook and the gateway IPN for one payment.
    r = await sim.http.post("/vietqr/pay", json={"qr_payload": decision["payment"]["qr_payload"], "channel": "sepay"})
    assert r.json()["delivery"]["scheduled"] == 2
    await lane_commands()

    async def logged() -> list[str] | None:
        async with sessionmaker() as db:
            rows = list(
                (
                    await db.execute(
                        select(PaymentNotification.outcome).where(
                            PaymentNotification.provider_txn_id == str(r.json()["payment"]["sepay_id"])
                        )
                    )
                ).scalars()
            )
        return rows if len(rows) == 2 else None

    assert sorted(await wait_for(logged)) == ["confirmed", "duplicate"]
    assert len(await payments_for(sessionmaker, decision["session_id"])) == 1
    async with sessionmaker() as db:
        assert await ledger_repository.receivable_outstanding(db, uuid.UUID(decision["session_id"])) == 0


async def test_replayed_signed_notification_is_idempotent(
    client: httpx.AsyncClient,
    sim: Sim,
    lot: LotHandle,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    decision = await unlinked_exit(client, lot)
    r = await sim.http.post(
        "/vietqr/pay",
        json={"qr_payload": decision["payment"]["qr_payload"], "channel": "both", "deliver": False},
    )
    sepay, vnp = r.json()["notifications"]
    outcomes = []
    for _ in range(3):
        a = await client.post("/v1/payments/notify/sepay", content=sepay["body"], headers=sepay["headers"])
        outcomes.append(a.json()["outcome"])
    assert outcomes == ["confirmed", "duplicate", "duplicate"]
    # The gateway IPN for the same payment reports the same bank transfer (same bank reference): it is
    # not money again (issue 13, finding 2), and the gateway is told the order is already confirmed.
    b = await client.get("/v1/payments/notify/vnpay", params=vnp["query"])
    assert b.json() == {"RspCode": "02", "Message": "Order already confirmed"}
    c = await client.get("/v1/payments/notify/vnpay", params=vnp["query"])
    assert c.json()["RspCode"] == "02"
    [p] = await payments_for(sessionmaker, decision["session_id"])
    assert p.provider == "sepay" and "unallocated" not in p.flags
    async with sessionmaker() as db:
        assert await ledger_repository.receivable_outstanding(db, uuid.UUID(decision["session_id"])) == 0


async def test_out_of_order_and_late_notifications(
    client: httpx.AsyncClient,
    sim: Sim,
    lot: LotHandle,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    first = await unlinked_exit(client, lot)
    second = await unlinked_exit(client, lot)
    await sim.fault("out_of_order")
    await sim.http.post("/vietqr/pay", json={"qr_payload": first["payment"]["qr_payload"]})
    assert (await sim.ledger())["held"] == 1
    await sim.fault("late_notification")
    await sim.http.post("/vietqr/pay", json={"qr_payload": second["payment"]["qr_payload"]})

    async def both_paid() -> bool:
        a = await session_row(sessionmaker, first["session_id"])
        b = await session_row(sessionmaker, second["session_id"])
        return a.payment_status == b.payment_status == "paid"

    await wait_for(both_paid)
    [p1] = await payments_for(sessionmaker, first["session_id"])
    [p2] = await payments_for(sessionmaker, second["session_id"])
    assert p1.confirmed_at and p2.confirmed_at and p2.confirmed_at < p1.confirmed_at  # really out of order


async def test_wrong_amount_is_not_accepted_as_payment(
    client: httpx.AsyncClient,
    sim: Sim,
    lot: LotHandle,
    sessionmaker: async_sessionmaker[AsyncSession],
    lane_commands: Any,
) -> None:
    decision = await unlinked_exit(client, lot)
    fee, sid = decision["fee_vnd"], decision["session_id"]
    qr = decision["payment"]["qr_payload"]
    # Gateway IPN with the wrong amount: refused (RspCode 04), nothing booked.
    r = await sim.http.post(
        "/vietqr/pay", json={"qr_payload": qr, "channel": "vnpay", "amount_vnd": fee - 1000, "deliver": False}
    )
    [vnp] = r.json()["notifications"]
    a = await client.get("/v1/payments/notify/vnpay", params=vnp["query"])
    assert a.json()["RspCode"] == "04"
    assert await payments_for(sessionmaker, sid) == []
    # Too small a bank transfer: we hold the money, but the session is unpaid and the lane waits.
    r = await sim.http.post(
        "/vietqr/pay", json={"qr_payload": qr, "channel": "sepay", "amount_vnd": fee - 1000, "deliver": False}
    )
    [sp] = r.json()["notifications"]
    b = await client.post("/v1/payments/notify/sepay", content=sp["body"], headers=sp["headers"])
    assert b.json()["outcome"] == "underpaid"
    assert await lane_commands.none(1.0)
    assert (await session_row(sessionmaker, sid)).payment_status == "awaiting_qr"
    async with sessionmaker() as db:
        assert await ledger_repository.receivable_outstanding(db, uuid.UUID(sid)) == 1000
    # The driver transfers the rest to the same reference: now it is paid and the lane opens.
    r = await sim.http.post(
        "/vietqr/pay", json={"qr_payload": qr, "channel": "sepay", "amount_vnd": 1000, "deliver": False}
    )
    [rest] = r.json()["notifications"]
    c = await client.post("/v1/payments/notify/sepay", content=rest["body"], headers=rest["headers"])
    assert c.json()["outcome"] == "confirmed"
    assert (await lane_commands())["session_id"] == sid


async def test_bad_signatures_are_refused(
    client: httpx.AsyncClient,
    sim: Sim,
    lot: LotHandle,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    decision = await unlinked_exit(client, lot)
    r = await sim.http.post(
        "/vietqr/pay",
        json={"qr_payload": decision["payment"]["qr_payload"], "channel": "both", "deliver": False},
    )
    sepay, vnp = r.json()["notifications"]
    # The webhook's configured method is HMAC (issue 13.7: one method, as configured): forge its signature.
    forged = dict(sepay["headers"], **{"X-SePay-Signature": "sha256=" + "0" * 64})
    a = await client.post("/v1/payments/notify/sepay", content=sepay["body"], headers=forged)
    assert a.status_code == 401 and a.json()["error"]["code"] == "bad_signature"
    body = json.loads(sepay["body"])
    body["transferAmount"] = 10_000_000  # tampered body, original signature
    b = await client.post("/v1/payments/notify/sepay", content=json.dumps(body), headers=sepay["headers"])
    assert b.status_code == 401
    q = dict(vnp["query"], vnp_Amount=str(int(vnp["query"]["vnp_Amount"]) * 10))
    c = await client.get("/v1/payments/notify/vnpay", params=q)
    assert c.json() == {"RspCode": "97", "Message": "Invalid signature"}
    assert await payments_for(sessionmaker, decision["session_id"]) == []
    async with sessionmaker() as db:
        n = (
            await db.execute(
                text(
                    "SELECT count(*) FROM payment_notifications WHERE NOT verified "
                    "AND received_at > now() - interval '1 minute'"
                )
            )
        ).scalar_one()
    assert n >= 3


async def test_orphan_credit_is_kept_unallocated(
    client: httpx.AsyncClient, sim: Sim, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    s = {
        "id": int(uuid.uuid4().int % 10**9),
        "gateway": "Vietcombank",
        "transactionDate": "2026-11-22 10:00:00",
        "accountNumber": "0011001234567",
        "content": "CHUYEN TIEN GUI XE KHONG MA",
        "transferType": "in",
        "transferAmount": 17_000,
        "referenceCode": "FT1",
    }
    body = json.dumps(s).encode()
    ts = str(int(time.time()))
    headers = {
        "X-SePay-Timestamp": ts,
        "X-SePay-Signature": notifications.sepay_hmac_signature(SECRET, ts, body),
        "Content-Type": "application/json",
    }
    r = await client.post("/v1/payments/notify/sepay", content=body, headers=headers)
    assert r.json()["outcome"] == "orphan"
    async with sessionmaker() as db:
        p = (await db.execute(select(Payment).where(Payment.id == uuid.UUID(r.json()["payment_id"])))).scalar_one()
        assert p.session_id is None and p.purpose == "orphan" and p.status == "confirmed"
        rows = (
            await db.execute(
                text(
                    "SELECT account, amount_vnd FROM ledger_postings lp "
                    "JOIN ledger_entries le ON le.id = lp.entry_id "
                    "WHERE le.payment_id = :p ORDER BY account"
                ),
                {"p": p.id},
            )
        ).all()
    assert [tuple(x) for x in rows] == [("bank_clearing:sepay", 17_000), ("unallocated", -17_000)]


async def test_unpaid_exit_becomes_debt_announced_at_next_entry_and_paid_later(
    client: httpx.AsyncClient,
    sim: Sim,
    lot: LotHandle,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    plate = random_car_plate()
    decision = await park(client, lot, plate, hours=2)
    assert decision["action"] == "pay"
    sid, fee = decision["session_id"], decision["fee_vnd"]
    # Attendant override: the car leaves without paying.
    op = (await make_staff(sessionmaker, lot.operator_id, "operator")).headers
    r = await client.post(f"/v1/payments/sessions/{sid}/unpaid-exit", json={"reason": "attendant_override"}, headers=op)
    assert r.status_code == 200 and r.json()["amount_vnd"] == fee
    assert (await session_row(sessionmaker, sid)).payment_status == "debt"
    # Next entry of that plate: the lane and the operator are told.
    r = await client.post("/v1/gate/events", json=event("entry", plate), headers=lot.entry.headers)
    entry = r.json()
    assert entry["action"] == "open" and "has_debt" in entry["flags"]
    assert any("Unpaid" in line for line in entry["display"]["lines"])
    # The driver registers that plate: the debt shows up on the account, and is paid with the linked wallet.
    desk = (await make_staff(sessionmaker, lot.operator_id, "operator")).headers  # the plate parked in its lot
    d = await make_driver(client, sim, plate=plate, approver=desk)
    [debt] = (await client.get("/v1/drivers/me/debts", headers=d.headers)).json()
    assert debt["amount_vnd"] == fee and debt["status"] == "open"
    r = await client.post(f"/v1/drivers/me/debts/{debt['id']}/pay", json={"method": "linked"}, headers=d.headers)
    assert r.json()["status"] == "paid"
    assert len(await sim.charges_for(f"debt-{debt['id']}")) == 1
    [debt] = (await client.get("/v1/drivers/me/debts", headers=d.headers)).json()
    assert debt["status"] == "paid"
    async with sessionmaker() as db:
        assert await ledger_repository.receivable_outstanding(db, uuid.UUID(sid)) == 0
    r = await client.post("/v1/gate/events", json=event("exit", plate), headers=lot.exit.headers)
    assert r.status_code == 200


async def test_expired_qr_becomes_debt_paid_by_qr(
    client: httpx.AsyncClient,
    sim: Sim,
    lot: LotHandle,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    plate = random_car_plate()
    decision = await park(client, lot, plate, hours=2)
    sid = decision["session_id"]
    async with sessionmaker() as db:
        await db.execute(
            text("UPDATE payment_intents SET expires_at = now() - interval '1 second' WHERE session_id = :s"),
            {"s": uuid.UUID(sid)},
        )
        await db.commit()
    op = (await make_staff(sessionmaker, lot.operator_id, "operator")).headers
    r = await client.post("/v1/payments/intents/expire", headers=op)
    assert r.json()["expired"] >= 1
    assert (await session_row(sessionmaker, sid)).payment_status == "debt"
    d = await make_driver(client, sim, plate=plate, link=False, approver=op)
    [debt] = (await client.get("/v1/drivers/me/debts", headers=d.headers)).json()
    r = await client.post(f"/v1/drivers/me/debts/{debt['id']}/pay", json={"method": "vietqr"}, headers=d.headers)
    qr = r.json()["payment"]
    assert vietqr.decode(qr["qr_payload"]).amount_vnd == debt["amount_vnd"]
    await sim.http.post("/vietqr/pay", json={"qr_payload": qr["qr_payload"], "channel": "vnpay"})

    async def paid() -> bool:
        return (await client.get("/v1/drivers/me/debts", headers=d.headers)).json()[0]["status"] == "paid"

    await wait_for(paid)


async def test_refunds_partial_then_full_with_audit(
    client: httpx.AsyncClient,
    sim: Sim,
    lot: LotHandle,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    d = await make_driver(client, sim)
    decision = await park(client, lot, d.plate, hours=2)
    fee = decision["fee_vnd"]
    [p] = await payments_for(sessionmaker, decision["session_id"])
    url = f"/v1/payments/{p.id}/refunds"
    assert (await client.post(url, json={"amount_vnd": 1000, "reason": "x" * 5})).status_code == 401
    op = (await make_staff(sessionmaker, lot.operator_id, "finance")).headers
    r1 = await client.post(url, json={"amount_vnd": 5000, "reason": "barrier fault, driver waited"}, headers=op)
    assert r1.status_code == 201, r1.text
    too_much = await client.post(url, json={"amount_vnd": fee, "reason": "again"}, headers=op)
    assert too_much.status_code == 409 and too_much.json()["error"]["code"] == "refund_exceeds_payment"
    r2 = await client.post(url, json={"amount_vnd": fee - 5000, "reason": "operator goodwill"}, headers=op)
    assert r2.status_code == 201

    async def sent() -> bool:
        async with sessionmaker() as db:
            st = list((await db.execute(select(Refund.status).where(Refund.payment_id == p.id))).scalars())
        return st == ["succeeded", "succeeded"]

    await wait_for(sent)
    assert (await sim.ledger())["accounts"]  # provider holds the refunded money back on the wallet
    refunded = [x for x in (await sim.ledger())["refunds"] if x["provider_txn_id"] == p.provider_txn_id]
    assert sum(x["amount_vnd"] for x in refunded) == fee
    async with sessionmaker() as db:
        pay = (await db.execute(select(Payment).where(Payment.id == p.id))).scalar_one()
        assert pay.status == "refunded" and pay.refunded_vnd == fee
        audits = (
            await db.execute(
                text("SELECT count(*) FROM audit_log WHERE action = 'payment.refund' AND entity_id = :p"),
                {"p": str(p.id)},
            )
        ).scalar_one()
        assert audits == 2
        total = (
            await db.execute(
                text(
                    "SELECT sum(amount_vnd) FROM ledger_postings lp "
                    "JOIN ledger_entries le ON le.id = lp.entry_id "
                    "WHERE le.payment_id = :p AND account = 'refunds'"
                ),
                {"p": p.id},
            )
        ).scalar_one()
        assert total == fee
        # Each refund produced an adjustment e-invoice linked to the original, which is left untouched.
        invoices = (
            await db.execute(
                text(
                    "SELECT kind, total_vnd, related_invoice_id FROM invoices WHERE payment_id = :p ORDER BY created_at"
                ),
                {"p": p.id},
            )
        ).all()
        originals = [i for i in invoices if i.kind == "original"]
        adjustments = [i for i in invoices if i.kind == "adjustment"]
        assert len(originals) == 1 and originals[0].total_vnd == fee
        assert sorted(-i.total_vnd for i in adjustments) == sorted([5000, fee - 5000])
        assert {i.related_invoice_id for i in adjustments} == {
            (
                await db.execute(
                    text("SELECT id FROM invoices WHERE payment_id = :p AND kind = 'original'"), {"p": p.id}
                )
            ).scalar_one()
        }


async def test_ledger_is_append_only(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    from sqlalchemy.exc import DBAPIError

    for sql in (
        "UPDATE ledger_postings SET amount_vnd = amount_vnd + 1",
        "DELETE FROM ledger_entries",
        "UPDATE ledger_entries SET memo = 'x'",
    ):
        async with sessionmaker() as db:
            with pytest.raises(DBAPIError, match="append-only"):
                await db.execute(text(sql))
                await db.execute(text("SELECT 1"))
            await db.rollback()


async def test_unbalanced_entry_rejected_at_commit(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    from sqlalchemy.exc import DBAPIError

    async with sessionmaker() as db:
        eid = uuid.uuid4()
        await db.execute(
            text("INSERT INTO ledger_entries (id, kind, idempotency_key) VALUES (:i, 'test', :k)"),
            {"i": eid, "k": f"test:{eid}"},
        )
        await db.execute(
            text("INSERT INTO ledger_postings (entry_id, account, amount_vnd) VALUES (:i, 'a', 100), (:i, 'b', -99)"),
            {"i": eid},
        )
        with pytest.raises(DBAPIError, match="unbalanced"):
            await db.commit()


async def test_monthly_pass_is_honoured_at_exit(
    client: httpx.AsyncClient,
    sim: Sim,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    # Decision 44/2017 has a monthly motorbike price (120,000 VND); the car rows have none.
    lot = await make_lot(
        sessionmaker,
        capacities={"motorbike": 5},
        lanes=(("E1", "entry", "motorbike"), ("X1", "exit", "motorbike")),
    )
    plate = f"29-B{random.randint(1, 9)} {random.randint(100, 999)}.{random.randint(10, 99)}"
    d = await make_driver(client, sim, plate=plate, vehicle_class="motorbike")
    start = datetime.now(UTC) - timedelta(days=1)
    body = {"plate": plate, "lot_id": str(lot.id), "start": start.isoformat()}
    r = await client.post("/v1/drivers/me/passes", json=body, headers=d.headers | {"Idempotency-Key": "buy-1"})
    assert r.status_code == 201, r.text
    bought = r.json()
    assert bought["price_vnd"] == 120_000 and bought["band"] == "all"
    again = await client.post("/v1/drivers/me/passes", json=body, headers=d.headers | {"Idempotency-Key": "buy-1"})
    assert again.json()["id"] == bought["id"]  # a retried purchase is the same purchase
    pass_charges = [c for c in (await sim.ledger())["charges"] if c["idempotency_key"].startswith(f"pass-{d.id}")]
    assert len(pass_charges) == 1 and pass_charges[0]["amount_vnd"] == 120_000
    decision = await park(client, lot, plate, hours=3)
    assert decision["action"] == "open" and decision["fee_vnd"] == 0, decision
    assert await sim.charges_for(f"exit-{decision['session_id']}") == []
    # Without the pass the same stay costs money: the zero above is the pass, not the tariff.
    other = await make_driver(
        client,
        sim,
        plate=f"30-C1 {random.randint(100, 999)}.{random.randint(10, 99)}",
        vehicle_class="motorbike",
    )
    paid = await park(client, lot, other.plate, hours=3)
    assert paid["fee_vnd"] > 0 and paid["action"] == "open"
