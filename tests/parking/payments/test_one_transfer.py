"""Issue 13 finding 2: one bank transfer is one payment, whichever channel reports it, and is invoiced once,
for the fee of the session; money beyond the fee is a credit, never revenue nor an invoice line."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.ledger import repository as ledger_repository
from parking.models import Invoice, Payment, PaymentNotification
from parking.payments import notifications
from tests.factories import LotHandle, make_staff
from tests.parking.payments.conftest import SECRET, Sim
from tests.parking.payments.test_linked import wait_for
from tests.parking.payments.test_qr_flows import payments_for, session_row, unlinked_exit


async def _both(sim: Sim, qr: str, **extra: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    r = await sim.http.post("/vietqr/pay", json={"qr_payload": qr, "channel": "both", "deliver": False, **extra})
    sepay, vnp = r.json()["notifications"]
    return sepay, vnp


async def _invoices_of(sm: async_sessionmaker[AsyncSession], sid: str) -> list[Invoice]:
    async with sm() as db:
        return list((await db.execute(select(Invoice).where(Invoice.session_id == uuid.UUID(sid)))).scalars())


async def _postings(sm: async_sessionmaker[AsyncSession], payment_id: uuid.UUID) -> list[tuple[str, int]]:
    async with sm() as db:
        rows = (
            await db.execute(
                text(
                    "SELECT account, sum(amount_vnd) FROM ledger_postings lp "
                    "JOIN ledger_entries le ON le.id = lp.entry_id WHERE le.payment_id = :p "
                    "GROUP BY account HAVING sum(amount_vnd) <> 0 ORDER BY account"
                ),
                {"p": payment_id},
            )
        ).all()
    return [(a, int(v)) for a, v in rows]


async def test_bank_webhook_then_gateway_ipn_of_one_transfer_book_one_payment(
    client: httpx.AsyncClient, sim: Sim, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    decision = await unlinked_exit(client, lot)
    sepay, vnp = await _both(sim, decision["payment"]["qr_payload"])
    a = await client.post("/v1/payments/notify/sepay", content=sepay["body"], headers=sepay["headers"])
    assert a.status_code == 200 and a.json()["success"] is True and a.json()["outcome"] == "confirmed"
    b = await client.get("/v1/payments/notify/vnpay", params=vnp["query"])
    # The gateway is told the truth: this order is already paid (by the same transfer).
    assert b.json() == {"RspCode": "02", "Message": "Order already confirmed"}
    [p] = await payments_for(sessionmaker, decision["session_id"])
    assert p.amount_vnd == decision["fee_vnd"] and "unallocated" not in p.flags
    assert [i.total_vnd for i in await _invoices_of(sessionmaker, decision["session_id"])] == [decision["fee_vnd"]]
    async with sessionmaker() as db:
        outcomes = list(
            (
                await db.execute(
                    select(PaymentNotification.outcome, PaymentNotification.payment_id).where(
                        PaymentNotification.payment_id == p.id
                    )
                )
            ).all()
        )
    assert sorted(o for o, _ in outcomes) == ["confirmed", "duplicate"]


async def test_gateway_ipn_then_bank_webhook_of_one_transfer_book_one_payment(
    client: httpx.AsyncClient, sim: Sim, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    decision = await unlinked_exit(client, lot)
    sepay, vnp = await _both(sim, decision["payment"]["qr_payload"])
    b = await client.get("/v1/payments/notify/vnpay", params=vnp["query"])
    assert b.json() == {"RspCode": "00", "Message": "Confirm Success"}
    a = await client.post("/v1/payments/notify/sepay", content=sepay["body"], headers=sepay["headers"])
    assert a.json()["success"] is True and a.json()["outcome"] == "duplicate"
    [p] = await payments_for(sessionmaker, decision["session_id"])
    assert p.provider == "vnpay"
    assert len(await _invoices_of(sessionmaker, decision["session_id"])) == 1
    async with sessionmaker() as db:
        assert await ledger_repository.receivable_outstanding(db, uuid.UUID(decision["session_id"])) == 0


async def test_both_channels_delivered_by_the_notifier_book_one_payment(
    client: httpx.AsyncClient, sim: Sim, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    decision = await unlinked_exit(client, lot)
    await sim.fault("duplicate_notification")  # each shape twice, over the wire
    r = await sim.http.post("/vietqr/pay", json={"qr_payload": decision["payment"]["qr_payload"], "channel": "both"})
    assert r.json()["delivery"]["scheduled"] == 4

    async def answered() -> list[dict[str, Any]] | None:
        got = [x for x in (await sim.ledger())["deliveries"] if x.get("status") == 200]
        return got if len(got) >= 4 else None

    await wait_for(answered)
    assert len(await payments_for(sessionmaker, decision["session_id"])) == 1
    assert len(await _invoices_of(sessionmaker, decision["session_id"])) == 1


async def test_money_beyond_the_fee_is_a_credit_and_the_invoice_is_for_the_fee(
    client: httpx.AsyncClient, sim: Sim, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    decision = await unlinked_exit(client, lot)
    fee, sid = decision["fee_vnd"], decision["session_id"]
    r = await sim.http.post(
        "/vietqr/pay",
        json={"qr_payload": decision["payment"]["qr_payload"], "channel": "sepay", "amount_vnd": 3 * fee},
    )
    assert r.status_code == 201

    async def paid() -> bool:
        return (await session_row(sessionmaker, sid)).payment_status == "paid"

    await wait_for(paid)
    [p] = await payments_for(sessionmaker, sid)
    assert p.amount_vnd == 3 * fee and "overpaid" in p.flags
    [inv] = await _invoices_of(sessionmaker, sid)
    assert inv.kind == "original" and inv.total_vnd == fee and inv.payment_id == p.id
    assert await _postings(sessionmaker, p.id) == [
        ("bank_clearing:sepay", 3 * fee),
        ("driver_receivable", -fee),
        ("unallocated", -2 * fee),
    ]
    # Giving the credit back is not a correction of the parking sale: no adjustment invoice, no contra-revenue.
    finance = await make_staff(sessionmaker, lot.operator_id, "finance")
    rr = await client.post(
        f"/v1/payments/{p.id}/refunds",
        json={"amount_vnd": 2 * fee, "reason": "paid three times"},
        headers=finance.headers,
    )
    assert rr.status_code == 201, rr.text

    async def refunded() -> bool:
        async with sessionmaker() as db:
            st = (await db.execute(text("SELECT status FROM refunds WHERE payment_id = :p"), {"p": p.id})).scalar()
        return st == "succeeded"

    await wait_for(refunded)
    assert [(i.kind, i.total_vnd) for i in await _invoices_of(sessionmaker, sid)] == [("original", fee)]
    assert await _postings(sessionmaker, p.id) == [
        ("bank_clearing:sepay", fee),
        ("driver_receivable", -fee),
    ]


async def test_underpaid_then_rest_is_invoiced_once_for_the_fee(
    client: httpx.AsyncClient, sim: Sim, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    decision = await unlinked_exit(client, lot)
    fee, sid, qr = decision["fee_vnd"], decision["session_id"], decision["payment"]["qr_payload"]
    for amount, outcome in ((fee - 1000, "underpaid"), (1000, "confirmed")):
        r = await sim.http.post(
            "/vietqr/pay", json={"qr_payload": qr, "channel": "sepay", "amount_vnd": amount, "deliver": False}
        )
        [n] = r.json()["notifications"]
        a = await client.post("/v1/payments/notify/sepay", content=n["body"], headers=n["headers"])
        assert a.json()["outcome"] == outcome
    assert len(await payments_for(sessionmaker, sid)) == 2
    assert [(i.kind, i.total_vnd) for i in await _invoices_of(sessionmaker, sid)] == [("original", fee)]


async def test_a_second_transfer_for_a_paid_session_is_a_credit_not_a_second_invoice(
    client: httpx.AsyncClient, sim: Sim, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    decision = await unlinked_exit(client, lot)
    sid = decision["session_id"]
    for _ in range(2):  # two distinct transfers (two bank references) to the same QR
        r = await sim.http.post(
            "/vietqr/pay", json={"qr_payload": decision["payment"]["qr_payload"], "channel": "sepay", "deliver": False}
        )
        [n] = r.json()["notifications"]
        await client.post("/v1/payments/notify/sepay", content=n["body"], headers=n["headers"])
    ps = await payments_for(sessionmaker, sid)
    assert len(ps) == 2 and sum("unallocated" in p.flags for p in ps) == 1
    assert len(await _invoices_of(sessionmaker, sid)) == 1


async def test_gateway_ipn_for_an_unknown_reference_books_nothing_and_says_so(
    client: httpx.AsyncClient, sim: Sim, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    from parking.payments.settings import get_payment_settings

    params = {
        "vnp_TmnCode": "PARKSIM1",
        "vnp_Amount": "2500000",
        "vnp_BankCode": "NCB",
        "vnp_BankTranNo": f"FT{uuid.uuid4().int % 10**12:012d}",
        "vnp_OrderInfo": "Thanh toan gui xe",
        "vnp_PayDate": "20261122100000",
        "vnp_ResponseCode": "00",
        "vnp_TransactionNo": str(uuid.uuid4().int % 10**9),
        "vnp_TransactionStatus": "00",
        "vnp_TxnRef": "NOSUCHORDER1",
    }
    secret = get_payment_settings().vnpay_hash_secret
    assert secret == SECRET
    params["vnp_SecureHash"] = notifications.vnpay_secure_hash(secret, params)
    r = await client.get("/v1/payments/notify/vnpay", params=params)
    assert r.json() == {"RspCode": "01", "Message": "Order not found"}
    async with sessionmaker() as db:
        booked = (
            await db.execute(select(Payment).where(Payment.provider_txn_id == params["vnp_TransactionNo"]))
        ).scalar()
        logged = (
            await db.execute(
                select(PaymentNotification.outcome).where(
                    PaymentNotification.provider_txn_id == params["vnp_TransactionNo"]
                )
            )
        ).scalar()
    assert booked is None  # the answer "not found" matches: nothing was booked
    assert logged == "unknown_reference"


async def test_the_bank_reference_is_unique_in_the_database(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    from sqlalchemy.exc import IntegrityError

    ref = f"FT{uuid.uuid4().int % 10**12:012d}"
    rows = [
        {"provider": prov, "txn": txn, "ref": ref}
        for prov, txn in (("sepay", str(uuid.uuid4())), ("vnpay", str(uuid.uuid4())))
    ]
    async with sessionmaker() as db:
        stmt = text(
            "INSERT INTO payments (id, purpose, amount_vnd, refunded_vnd, status, method, provider, "
            "provider_txn_id, bank_ref, lane_waiting, flags) VALUES (gen_random_uuid(), 'orphan', 1000, 0, "
            "'pending', 'vietqr', :provider, :txn, :ref, false, '{}')"
        )
        await db.execute(stmt, rows[0])
        try:
            await db.execute(stmt, rows[1])
        except IntegrityError as e:
            assert "uq_payments_bank_ref" in str(e)
        else:
            raise AssertionError("a second payment with the same bank reference was stored")
        finally:
            await db.rollback()


def test_both_shapes_carry_the_bank_reference() -> None:
    sepay = notifications.parse_sepay(
        json.dumps(
            {
                "id": 1,
                "transactionDate": "2026-11-22 10:00:00",
                "transferAmount": 1000,
                "content": "x",
                "referenceCode": " ft123 ",
            }
        ).encode()
    )
    vnp = notifications.parse_vnpay(
        {
            "vnp_Amount": "100000",
            "vnp_TransactionNo": "9",
            "vnp_TxnRef": "X",
            "vnp_PayDate": "20261122100000",
            "vnp_BankTranNo": "FT123",
        }
    )
    assert sepay.bank_ref == vnp.bank_ref == "FT123"


async def test_both_channels_at_the_same_instant_book_one_payment(
    client: httpx.AsyncClient, sim: Sim, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """The unique bank reference settles the race: the loser of the insert finds the winner's payment."""
    decision = await unlinked_exit(client, lot)
    sepay, vnp = await _both(sim, decision["payment"]["qr_payload"])
    a, b = await asyncio.gather(
        client.post("/v1/payments/notify/sepay", content=sepay["body"], headers=sepay["headers"]),
        client.get("/v1/payments/notify/vnpay", params=vnp["query"]),
    )
    assert a.json()["success"] is True
    outcomes = {a.json()["outcome"], {"00": "confirmed", "02": "duplicate"}[b.json()["RspCode"]]}
    assert outcomes == {"confirmed", "duplicate"}
    assert len(await payments_for(sessionmaker, decision["session_id"])) == 1
    assert len(await _invoices_of(sessionmaker, decision["session_id"])) == 1
