"""A day served by the real payment simulator over HTTP: drivers pay VietQRs (bank transfer and gateway),
the simulator injects one fault of each kind into what it served and delivers its statement and settlement
report over HTTP; the demo endpoint imports them and reconciles. Every fault lands in its class."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.kit.db import transaction
from parking.models import Discrepancy, ParkingSession, Payment, RefundProposal
from parking.payments import service as payments
from reconciliation.rules import VN_TZ
from tests.factories import LotHandle, make_lot, make_staff
from tests.reconciliation.daybuilder import session_with_qr

BANK_FAULT_CLASS = {
    "missing_credit": "missing_at_provider",
    "duplicate_credit": "duplicate_credit",
    "underpaid": "amount_mismatch",
    "fee_at_source": "amount_mismatch",
    "after_midnight": "late_settlement",
    "refund_reversal": "refund_reversal",
    "x100": "amount_mismatch",
    "settled_next_day": "late_settlement",
    "truncated_reference": None,
    "spaced_reference": None,
}


async def test_a_simulated_day_reconciles_with_every_fault_in_its_class(
    sessionmaker: async_sessionmaker[AsyncSession],
    recon_lot: LotHandle,
    recon_sim: str,
    client: httpx.AsyncClient,
) -> None:
    today = datetime.now(VN_TZ).date()
    async with httpx.AsyncClient(base_url=recon_sim, timeout=30) as sim:
        paid: list[uuid.UUID] = []
        for i in range(14):  # 11 bank transfers, 3 through the gateway
            sid, qr = await session_with_qr(sessionmaker, recon_lot, 10_000 + 1_000 * i)
            r = await sim.post("/vietqr/pay", json={"qr_payload": qr, "channel": "sepay" if i < 11 else "vnpay"})
            assert r.status_code == 201
            paid.append(sid)
        unpaid, _ = await session_with_qr(sessionmaker, recon_lot, 27_000)  # the driver never got a confirmation
        async with transaction(sessionmaker) as db:
            # The demo "loses" the notification of the day's first expired QR: make it this one, whatever other
            # tests expired earlier today in the same database.
            first = datetime.combine(today, datetime.min.time(), VN_TZ) + timedelta(seconds=1)
            await db.execute(
                text("UPDATE payment_intents SET status = 'expired', created_at = :t WHERE session_id = :s"),
                {"s": unpaid, "t": first},
            )
            await payments.record_debt(db, session_id=unpaid, reason="qr_unpaid")  # as the QR expiry job does
        for _ in range(200):  # the notifications reach the API
            async with sessionmaker() as db:
                n = len(
                    (
                        await db.execute(
                            select(Payment.id).where(Payment.session_id.in_(paid), Payment.status == "confirmed")
                        )
                    ).all()
                )
            if n == len(paid):
                break
            await asyncio.sleep(0.1)
        assert n == len(paid)

    r = await client.post("/v1/reconciliation/demo", params={"date": str(today)})
    assert r.status_code == 401  # behind staff authentication
    finance = await make_staff(sessionmaker, recon_lot.operator_id, "finance")
    auditor = await make_staff(sessionmaker, recon_lot.operator_id, "auditor")
    desk = await make_staff(sessionmaker, recon_lot.operator_id, "supervisor")
    for refused in (auditor, desk):  # running the platform's reconciliation: finance (and admin) only
        r = await client.post("/v1/reconciliation/demo", params={"date": str(today)}, headers=refused.headers)
        assert r.status_code == 403, r.text
    headers = finance.headers
    r = await client.post("/v1/reconciliation/demo", params={"date": str(today)}, headers=headers)
    assert r.status_code == 200, r.text
    out = r.json()
    injected = out["injected"]
    assert set(injected) >= set(BANK_FAULT_CLASS) | {"static_qr", "transfer_late", "lost_notification"}

    async with sessionmaker() as db:
        ours = (
            (
                await db.execute(
                    select(Discrepancy).where(Discrepancy.business_date == today, Discrepancy.lot_id == recon_lot.id)
                )
            )
            .scalars()
            .all()
        )
    want = Counter(c for c in BANK_FAULT_CLASS.values() if c) + Counter({"status_mismatch": 1})
    assert Counter(d.code for d in ours) == want
    summary = out["summary"]
    assert summary["discrepancies"]["orphan_credit"] >= 1 and summary["discrepancies"]["transfer_late"] >= 1
    assert summary["healed"]["mark_paid"] >= 1
    async with sessionmaker() as db:
        s = await db.get(ParkingSession, unpaid)
        assert s is not None and s.payment_status == "paid"  # healed: the bank had the money

    # the same day again through the API: identical; and the reports are served
    r2 = await client.post(f"/v1/reconciliation/runs/{today}", headers=headers)
    assert r2.status_code == 200 and r2.json() == summary
    assert (await client.get(f"/v1/reconciliation/runs/{today}", headers=headers)).json() == summary
    lst = (
        await client.get(f"/v1/reconciliation/discrepancies/{today}", headers=headers, params={"code": "leakage"})
    ).json()
    assert all(x["code"] == "leakage" for x in lst)
    x = await client.get(
        f"/v1/reconciliation/reports/{today}", headers=headers, params={"format": "xlsx", "lang": "en"}
    )
    assert x.status_code == 200 and x.content[:2] == b"PK"
    pdf = await client.get(f"/v1/reconciliation/reports/{today}", headers=headers, params={"format": "pdf"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    # Scoped by lots: this operator's finance sees its lot's discrepancies (the auditor reads them too); another
    # operator's finance sees none of them, nor the lot in the report, nor may it approve a refund of its payments.
    mine = (await client.get(f"/v1/reconciliation/discrepancies/{today}", headers=auditor.headers)).json()
    assert Counter(d["code"] for d in mine if d["lot_id"] == str(recon_lot.id)) == want
    stranger = await make_staff(
        sessionmaker, (await make_lot(sessionmaker, capacities={"car_small": 1})).operator_id, "finance"
    )
    theirs = (await client.get(f"/v1/reconciliation/discrepancies/{today}", headers=stranger.headers)).json()
    assert all(d["lot_id"] is None and d["session_id"] is None and d["payment_id"] is None for d in theirs)
    seen = json.dumps(theirs)
    assert not any(str(s) in seen for s in paid)
    rep = (await client.get(f"/v1/reconciliation/reports/{today}", headers=stranger.headers)).json()
    assert recon_lot.code not in {x["lot"] for x in rep["by_lot"]}
    assert all(x["lot"] is None for x in rep["discrepancies"])
    assert recon_lot.code in {
        x["lot"] for x in (await client.get(f"/v1/reconciliation/reports/{today}", headers=headers)).json()["by_lot"]
    }
    async with sessionmaker() as db:
        pay = (await db.execute(select(Payment).where(Payment.session_id == paid[0]))).scalars().first()
        assert pay is not None
        proposal = RefundProposal(
            id=uuid.uuid4(), business_date=today, statement_line_id=uuid.uuid4().int >> 66, payment_id=pay.id,
            amount_vnd=1000, status="awaiting_approval",
        )  # fmt: skip
        db.add(proposal)
        await db.commit()
    url = f"/v1/reconciliation/refund-proposals/{proposal.id}/approve"
    assert (await client.post(url, headers=stranger.headers)).status_code == 404
    assert (await client.post(url, headers=auditor.headers)).status_code == 403
    r = await client.post(url, headers=headers)
    assert r.status_code == 200 and r.json()["status"] == "executed", r.text
