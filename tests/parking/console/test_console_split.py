"""Splitting a stay that was really two visits, from the review queue (issue 11.2): two sessions, each priced by
the pricing engine (the lot's quote API says the same), each with its own ledger fee entry; money already paid
for more than the first visit comes back as a refund with an adjustment invoice, the second visit is owed as a
debt; nothing is edited, everything is audited."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.ledger import repository as ledger_repo
from parking.models import AuditLog, Debt, GateEvent, Invoice, ParkingSession, Payment, Refund
from parking.payments import service as payments
from tests.factories import LotHandle, event, make_staff, random_car_plate
from tests.parking.payments.conftest import Sim, make_driver, park

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
HANOI_FMT = "%Y-%m-%dT%H:%M"


async def _quote(client: httpx.AsyncClient, lot: LotHandle, entry: datetime, exit_: datetime) -> int:
    r = await client.get(
        f"/v1/lots/{lot.id}/quote",
        params={"vehicle": "car_small", "entry": entry.isoformat(), "exit": exit_.isoformat()},
    )
    assert r.status_code == 200, r.text
    return int(r.json()["total_vnd"])


async def _pending(sm: async_sessionmaker[AsyncSession], sid: str) -> ParkingSession:
    async with sm() as db:
        await db.execute(
            update(ParkingSession)
            .where(ParkingSession.id == uuid.UUID(sid))
            .values(review_status="pending", review_reason="re-entered: two visits?")
        )
        await db.commit()
        s = await db.get(ParkingSession, uuid.UUID(sid))
        assert s is not None and s.entry_at is not None and s.exit_at is not None
        return s


async def test_splitting_a_paid_stay_refunds_the_first_visits_excess_and_owes_the_second(
    client: httpx.AsyncClient, sim: Sim, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    d = await make_driver(client, sim)
    decision = await park(client, lot, d.plate, hours=6)
    sid, fee = decision["session_id"], decision["fee_vnd"]
    a0 = await _pending(sessionmaker, sid)
    assert a0.entry_at is not None and a0.exit_at is not None
    first_exit = a0.entry_at + timedelta(hours=1)
    second_entry = a0.exit_at - timedelta(hours=1, minutes=30)
    want_first = await _quote(client, lot, a0.entry_at, first_exit)
    want_second = await _quote(client, lot, second_entry, a0.exit_at)
    assert 0 < want_first < fee and want_second > 0
    async with sessionmaker() as db:
        [paid] = (await db.execute(select(Payment).where(Payment.session_id == a0.id))).scalars().all()
        recognised = await ledger_repo.entry_postings(db, f"fee:{a0.id}")
    assert paid.status == "confirmed" and paid.amount_vnd == fee

    op = await make_staff(sessionmaker, lot.operator_id, "operator")
    auditor = await make_staff(sessionmaker, lot.operator_id, "auditor")
    form = {
        "action": "split",
        "reason": "Camera lối ra mất tín hiệu 2 lần",
        "first_exit_at": first_exit.isoformat(),
        "second_entry_at": second_entry.isoformat(),
    }
    assert (await client.post(f"/console/review/{sid}", data=form, headers=auditor.headers)).status_code == 403
    bad = {**form, "second_entry_at": (first_exit - timedelta(minutes=5)).isoformat()}
    r = await client.post(f"/console/review/{sid}", data=bad, headers=op.headers)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_split"
    r = await client.post(f"/console/review/{sid}", data=form, headers={**op.headers, "HX-Request": "true"})
    assert r.status_code == 200, r.text
    assert "Đã tách thành hai lượt gửi" in r.text

    async with sessionmaker() as db:
        a = await db.get(ParkingSession, a0.id)
        assert a is not None
        [b] = (
            (await db.execute(select(ParkingSession).where(ParkingSession.review_reason.like(f"split from {a0.id}%"))))
            .scalars()
            .all()
        )
        refunds = (await db.execute(select(Refund).where(Refund.payment_id == paid.id))).scalars().all()
        debt = (await db.execute(select(Debt).where(Debt.session_id == b.id))).scalar_one()
        exit_ev = await db.get(GateEvent, a0.exit_event_id)
        fee_a = await ledger_repo.entry_postings(db, f"fee:{a.id}")
        fee_b = await ledger_repo.entry_postings(db, f"fee:{b.id}")
        audits = (await db.execute(select(AuditLog).where(AuditLog.action == "review.split"))).scalars().all()
    # two sessions, each priced by the pricing engine
    assert a.exit_at == first_exit and a.fee_vnd == want_first and a.exit_event_id is None
    assert b.entry_at == second_entry and b.exit_at == a0.exit_at and b.fee_vnd == want_second
    assert b.plate == a0.plate and b.lot_id == a0.lot_id and "split" in b.flags and "split" in a.flags
    assert exit_ev is not None and exit_ev.session_id == b.id  # the exit gate event belongs to the second visit
    # the new session's id is a UUIDv7, so it lives in its month's partition, not the DEFAULT one
    assert b.id.version == 7
    part = (
        await db.execute(text("SELECT tableoid::regclass::text FROM parking_sessions WHERE id = :i"), {"i": b.id})
    ).scalar_one()
    assert part != "parking_sessions_default"
    # money: the first visit's excess refunded (never an edit of the payment); the second owed as a debt
    assert [x.amount_vnd for x in refunds] == [fee - want_first]
    assert paid.amount_vnd == fee
    assert debt.amount_vnd == want_second and debt.status == "open" and debt.reason == "split"
    assert b.payment_status == "debt"
    assert fee_a == recognised  # the original fee entry is untouched
    assert sum(p for p in (x.amount_vnd for x in fee_b) if p > 0) == want_second
    mine = [x for x in audits if x.entity_id in (str(a.id), str(b.id))]
    assert {x.entity_id for x in mine} == {str(a.id), str(b.id)} and all(x.actor.startswith("staff:") for x in mine)
    assert mine[0].data["before"]["fee_vnd"] == fee and mine[0].data["second"]["fee_vnd"] == want_second

    for _ in range(100):  # the refund's adjustment e-invoice follows through the outbox
        async with sessionmaker() as db:
            kinds = [
                i.kind
                for i in (
                    await db.execute(select(Invoice).where(Invoice.session_id == a0.id).order_by(Invoice.issued_at))
                ).scalars()
            ]
        if "adjustment" in kinds:
            break
        await asyncio.sleep(0.2)
    assert kinds[0] == "original" and "adjustment" in kinds, kinds


async def test_splitting_an_unpaid_stay_moves_the_receivable_and_both_visits_are_owed(
    client: httpx.AsyncClient, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    plate = random_car_plate()  # no linked account: the car leaves owing (a debt)
    now = datetime.now().astimezone()
    r = await client.post(
        "/v1/gate/events", json=event("entry", plate, at=now - timedelta(hours=5)), headers=lot.entry.headers
    )
    sid = r.json()["session_id"]
    await client.post("/v1/gate/events", json=event("exit", plate, at=now), headers=lot.exit.headers)
    async with sessionmaker() as db:
        await db.execute(
            update(ParkingSession).where(ParkingSession.id == uuid.UUID(sid)).values(payment_status="debt")
        )
        await db.commit()
    a0 = await _pending(sessionmaker, sid)
    assert a0.entry_at is not None and a0.exit_at is not None
    async with sessionmaker() as db:
        await payments.record_debt(db, session_id=a0.id, reason="qr_unpaid")
        await db.commit()
        owed_before = await ledger_repo.receivable_outstanding(db, a0.id)
    # whole minutes, as the console's datetime-local fields send them
    first_exit = (a0.entry_at + timedelta(minutes=51)).replace(second=0, microsecond=0)
    second_entry = (a0.entry_at + timedelta(hours=3)).replace(second=0, microsecond=0)
    want_first = await _quote(client, lot, a0.entry_at, first_exit)
    want_second = await _quote(client, lot, second_entry, a0.exit_at)
    sup = await make_staff(sessionmaker, lot.operator_id, "supervisor")
    form = {
        "action": "split",
        "reason": "two visits, exit read missed",
        # the console's datetime-local fields, in Hanoi time
        "first_exit_at": first_exit.astimezone(HANOI).strftime(HANOI_FMT),
        "second_entry_at": second_entry.astimezone(HANOI).strftime(HANOI_FMT),
    }
    r = await client.post(f"/console/review/{sid}", data=form, headers=sup.headers)
    assert r.status_code == 303, r.text
    async with sessionmaker() as db:
        a = await db.get(ParkingSession, a0.id)
        b = (
            await db.execute(select(ParkingSession).where(ParkingSession.review_reason.like(f"split from {a0.id}%")))
        ).scalar_one()
        debt_a = (await db.execute(select(Debt).where(Debt.session_id == a0.id))).scalar_one()
        debt_b = (await db.execute(select(Debt).where(Debt.session_id == b.id))).scalar_one()
        owed_a = await ledger_repo.receivable_outstanding(db, a0.id)
        owed_b = await ledger_repo.receivable_outstanding(db, b.id)
    assert a is not None
    assert a.exit_at == first_exit and a.fee_vnd == want_first and b.fee_vnd == want_second
    assert owed_before == a0.fee_vnd and owed_a == a.fee_vnd == debt_a.amount_vnd
    assert owed_b == b.fee_vnd == debt_b.amount_vnd and debt_b.status == "open"
    # times outside the stay are refused
    again = {**form, "second_entry_at": form["first_exit_at"]}
    r = await client.post(f"/console/review/{b.id}", data=again, headers=sup.headers)
    assert r.status_code == 422
