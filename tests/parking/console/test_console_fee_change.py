"""A fee waived after payment: the money comes back as a refund with an adjustment invoice, never an edit."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.ledger import repository  # the journal moved from payments to the ledger package
from parking.models import AuditLog, Debt, Invoice, ParkingSession, Payment, Refund
from tests.factories import LotHandle, event, make_staff, random_car_plate
from tests.parking.payments.conftest import Sim, make_driver, park


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


async def test_merging_an_unmatched_exit_into_its_stay_closes_it_prices_it_and_frees_the_space(
    client: httpx.AsyncClient, sim: Sim, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    now = datetime.now(UTC)
    r = await client.post(
        "/v1/gate/events", json=event("entry", "30A-123.45", at=now - timedelta(hours=2)), headers=lot.entry.headers
    )
    stay = r.json()["session_id"]
    r = await client.post("/v1/gate/events", json=event("exit", "30A-129.46", at=now), headers=lot.exit.headers)
    assert r.json()["action"] == "attendant"  # two characters off: the gate does not guess
    orphan = r.json()["session_id"]
    sup = await make_staff(sessionmaker, lot.operator_id, "supervisor")
    page = (await client.get("/console/review", headers=sup.headers)).text
    assert f'data-testid="merge-{orphan}"' in page and f'value="{stay}"' in page  # offered as the candidate
    occ = (await client.get(f"/v1/lots/{lot.id}/occupancy")).json()["classes"]["car_small"]["occupied"]
    assert occ == 1
    r = await client.post(
        f"/console/review/{orphan}",
        data={"action": "merge", "target": stay, "reason": "exit read 9 for 3"},
        headers=sup.headers,
    )
    assert r.status_code == 303, r.text
    async with sessionmaker() as db:
        s = await db.get(ParkingSession, uuid.UUID(stay))
        o = await db.get(ParkingSession, uuid.UUID(orphan))
        owed = await repository.receivable_outstanding(db, uuid.UUID(stay))
        debt = (await db.execute(select(Debt).where(Debt.session_id == uuid.UUID(stay)))).scalar_one()
        audit = (await db.execute(select(AuditLog.action).where(AuditLog.entity_id == stay))).scalars().all()
    assert s is not None and o is not None
    assert s.status == "closed" and s.exit_event_id == o.exit_event_id
    assert s.fee_vnd and s.fee_vnd > 0 and owed == s.fee_vnd and debt.amount_vnd == s.fee_vnd
    assert o is not None and o.review_status == "resolved" and "merged" in o.flags
    assert "review.merge" in audit
    occ = (await client.get(f"/v1/lots/{lot.id}/occupancy")).json()["classes"]["car_small"]["occupied"]
    assert occ == 0
