"""A fee waived after payment: the money comes back as a refund with an adjustment invoice, never an edit."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.models import AuditLog, Debt, Invoice, ParkingSession, Payment, Refund
from parking.payments import repository
from tests.factories import LotHandle, make_staff, random_car_plate
from tests.payments.conftest import Sim, make_driver, park


async def test_waiving_a_paid_fee_refunds_it_with_an_adjustment_invoice(
    client: httpx.AsyncClient, sim: Sim, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    d = await make_driver(client, sim)
    decision = await park(client, lot, d.plate, hours=2)
    sid, fee = decision["session_id"], decision["fee_vnd"]
    assert fee > 0
    async with sessionmaker() as db:
        [p] = (await db.execute(select(Payment).where(Payment.session_id == uuid.UUID(sid)))).scalars().all()
        assert p.status == "confirmed" and p.amount_vnd == fee
        await db.execute(
            update(ParkingSession).where(ParkingSession.id == uuid.UUID(sid)).values(review_status="pending")
        )
        await db.commit()
    operator = await make_staff(sessionmaker, lot.operator_id, "operator")
    sup = await make_staff(sessionmaker, lot.operator_id, "supervisor")
    form = {"action": "waive", "reason": "barrier fault, driver waited"}
    assert (await client.post(f"/console/review/{sid}", data=form, headers=operator.headers)).status_code == 403
    r = await client.post(f"/console/review/{sid}", data=form, headers={**sup.headers, "HX-Request": "true"})
    assert r.status_code == 200, r.text
    async with sessionmaker() as db:
        s = await db.get(ParkingSession, uuid.UUID(sid))
        [refund] = (await db.execute(select(Refund).where(Refund.payment_id == p.id))).scalars().all()
        [audit] = (
            (await db.execute(select(AuditLog).where(AuditLog.entity_id == sid, AuditLog.action == "review.waive")))
            .scalars()
            .all()
        )
    assert s is not None and s.fee_vnd == 0 and s.review_status == "resolved"
    assert refund.amount_vnd == fee and refund.actor.startswith(f"staff:{sup.email}")
    assert audit.data["refunds"][0]["amount_vnd"] == fee and audit.data["before"]["fee_vnd"] == fee

    async def adjusted() -> list[Invoice]:
        async with sessionmaker() as db:
            rows = await db.execute(
                select(Invoice).where(Invoice.session_id == uuid.UUID(sid)).order_by(Invoice.issued_at)
            )
            return list(rows.scalars())

    for _ in range(100):
        invoices = await adjusted()
        if any(i.kind == "adjustment" for i in invoices):
            break
        await asyncio.sleep(0.2)
    kinds = [i.kind for i in invoices]
    assert kinds[0] == "original" and "adjustment" in kinds, kinds
    original = invoices[0]
    assert original.total_vnd == fee  # the paid invoice is unchanged


async def test_waiving_an_unpaid_fee_corrects_the_receivable_and_writes_the_debt_off(
    client: httpx.AsyncClient, sim: Sim, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    decision = await park(client, lot, random_car_plate(), hours=2)  # no linked account: a QR at the exit
    sid, fee = decision["session_id"], decision["fee_vnd"]
    assert decision["action"] == "pay" and fee > 0
    op = await make_staff(sessionmaker, lot.operator_id, "operator")
    r = await client.post(
        f"/v1/payments/sessions/{sid}/unpaid-exit", json={"reason": "attendant_override"}, headers=op.headers
    )
    assert r.json()["amount_vnd"] == fee
    sup = await make_staff(sessionmaker, lot.operator_id, "supervisor")
    # Lower first (adjust), then waive: each step moves the receivable and the debt, nothing is edited.
    r = await client.post(
        f"/console/review/{sid}",
        data={"action": "adjust_fee", "fee_vnd": str(fee - 5000), "reason": "grace period missed"},
        headers=sup.headers,
    )
    assert r.status_code == 303, r.text
    async with sessionmaker() as db:
        assert await repository.receivable_outstanding(db, uuid.UUID(sid)) == fee - 5000
        [debt] = (await db.execute(select(Debt).where(Debt.session_id == uuid.UUID(sid)))).scalars().all()
        assert debt.amount_vnd == fee - 5000 and debt.status == "open"
    r = await client.post(
        f"/console/review/{sid}", data={"action": "waive", "reason": "barrier fault"}, headers=sup.headers
    )
    assert r.status_code == 303, r.text
    async with sessionmaker() as db:
        assert await repository.receivable_outstanding(db, uuid.UUID(sid)) == 0
        status = (await db.execute(select(Debt.status).where(Debt.id == debt.id))).scalar_one()
        assert status == "written_off"
        s = await db.get(ParkingSession, uuid.UUID(sid))
        assert s is not None and s.fee_vnd == 0 and s.payment_status == "free"
        fee_entry = await repository.entry_postings(db, f"fee:{sid}")
    assert sum(p.amount_vnd for p in fee_entry) == 0 and len(fee_entry) == 2  # the original entry is untouched
