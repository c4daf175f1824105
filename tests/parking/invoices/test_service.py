"""Issuing on real PostgreSQL: content, idempotency, gapless numbering under concurrency, outbox."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import vnplate
from parking.invoices import codes
from parking.invoices import xml as X
from parking.invoices.verify import verify_day
from parking.kit.db import transaction
from parking.models import Invoice, InvoiceEvent, InvoiceSeries, Operator, OutboxMessage
from tests.factories import LotHandle
from tests.factories.invoices import PLATE, confirm_in, paid, pending_payment

VN_TODAY = datetime.now(X.VN_TZ).date()


async def test_invoice_content_from_the_payment(sessionmaker: async_sessionmaker[AsyncSession], lot: LotHandle) -> None:
    inv = await paid(sessionmaker, lot, 25_000)
    async with sessionmaker() as db:
        op = await db.get(Operator, lot.operator_id)
        series = await db.get(InvoiceSeries, inv.series_id)
        assert op is not None and series is not None
        year = inv.issued_at.astimezone(X.VN_TZ).year
        assert series.symbol == f"C{year % 100:02d}M{op.invoice_symbol_letters}"
        assert inv.mccqt == codes.format_mccqt(1, year, op.invoice_series_code or "", inv.seq)
        assert inv.seq == 1  # a fresh operator starts its series at 1
        # VAT of 2025-07..2026-12 is 8 %; the split adds up to what was paid, in whole VND
        assert (inv.total_vnd, inv.net_vnd, inv.vat_vnd, inv.vat_rate_bp) == (25_000, 23_148, 1_852, 800)
        hdon = X.from_bytes(inv.xml.encode())
        X.validate(hdon)
        v = X.read_view(hdon)
        assert v.seller.tax_code == op.tax_code and v.seller.name == op.name
        assert v.buyer == {}  # the driver asked for nothing
        line = v.lines[0]
        # The receipt shows the plate as printed on the vehicle (30A-123.45), not the normalised key.
        assert line.info["BienSo"] == vnplate.parse(PLATE).canonical  # type: ignore[union-attr]
        assert lot.code in line.info["BaiXe"]
        assert line.info["TGVao"] < line.info["TGRa"]
        assert inv.status == "issued"
        events = (await db.execute(select(InvoiceEvent).where(InvoiceEvent.invoice_id == inv.id))).scalars().all()
        assert [e.status for e in events] == ["issued"]
        msg = (
            await db.execute(select(OutboxMessage).where(OutboxMessage.key == f"invoice.transmit:{inv.id}"))
        ).scalar_one()
        assert msg.topic == "invoice.transmit" and msg.payload == {"invoice_id": str(inv.id)}


async def test_second_call_returns_the_same_invoice(
    sessionmaker: async_sessionmaker[AsyncSession], lot: LotHandle
) -> None:
    inv = await paid(sessionmaker, lot, 12_000)
    async with transaction(sessionmaker) as db:
        from parking.invoices.service import on_payment_confirmed

        again = await on_payment_confirmed(db, inv.payment_id)
    assert again is not None and again.id == inv.id
    async with sessionmaker() as db:
        n = (await db.execute(select(Invoice).where(Invoice.payment_id == inv.payment_id))).scalars().all()
        assert len(n) == 1


async def test_a_rolled_back_payment_returns_its_number(
    sessionmaker: async_sessionmaker[AsyncSession], lot: LotHandle
) -> None:
    first = await paid(sessionmaker, lot, 10_000)
    pid = await pending_payment(sessionmaker, lot, 10_000)
    with pytest.raises(RuntimeError):
        async with transaction(sessionmaker) as db:
            inv = await confirm_in(db, pid)
            assert inv is not None and inv.seq == first.seq + 1
            raise RuntimeError("the payment's transaction fails after issuing")
    nxt = await paid(sessionmaker, lot, 10_000)
    assert nxt.seq == first.seq + 1  # the number came back: no gap


async def test_codes_gapless_and_unique_under_concurrent_payments(
    sessionmaker: async_sessionmaker[AsyncSession], lot: LotHandle
) -> None:
    n = 40
    payments = [await pending_payment(sessionmaker, lot, random.choice([5_000, 25_000, 60_000])) for _ in range(n)]
    rng = random.Random(7)
    fail = set(rng.sample(range(n), 10))  # a quarter of the transactions roll back after taking a number
    start = asyncio.Event()

    async def one(i: int, pid: uuid.UUID) -> str | None:
        await start.wait()
        try:
            async with transaction(sessionmaker) as db:
                inv = await confirm_in(db, pid)
                assert inv is not None
                await asyncio.sleep(rng.random() / 50)  # hold the counter a little, like a real payment
                if i in fail:
                    raise RuntimeError("rollback")
                return inv.mccqt
        except RuntimeError:
            return None

    tasks = [asyncio.create_task(one(i, pid)) for i, pid in enumerate(payments)]
    start.set()
    got = [c for c in await asyncio.gather(*tasks) if c is not None]
    assert len(got) == n - len(fail)
    assert len(set(got)) == len(got)
    async with sessionmaker() as db:
        rows = (
            await db.execute(
                select(Invoice.seq, Invoice.mccqt).where(Invoice.operator_id == lot.operator_id).order_by(Invoice.seq)
            )
        ).all()
        series = (
            await db.execute(select(InvoiceSeries).where(InvoiceSeries.operator_id == lot.operator_id))
        ).scalar_one()
    assert [r.seq for r in rows] == list(range(1, n - len(fail) + 1))  # 1..k, no gap, no duplicate
    assert series.next_seq == n - len(fail) + 1
    assert sorted(got) == [r.mccqt for r in rows]
    async with sessionmaker() as db:
        rep = await verify_day(db, VN_TODAY)
    assert rep.clean, rep.to_dict()


async def test_invoice_content_cannot_be_edited_or_deleted(
    sessionmaker: async_sessionmaker[AsyncSession], lot: LotHandle
) -> None:
    inv = await paid(sessionmaker, lot, 25_000)
    for stmt in (
        "UPDATE invoices SET total_vnd = 1 WHERE id = :id",
        "UPDATE invoices SET xml = '<x/>' WHERE id = :id",
        "DELETE FROM invoices WHERE id = :id",
    ):
        with pytest.raises(DBAPIError, match=r"immutable|never deleted"):
            async with transaction(sessionmaker) as db:
                await db.execute(text(stmt), {"id": inv.id})
    async with transaction(sessionmaker) as db:  # status tracking is allowed
        await db.execute(text("UPDATE invoices SET status = status WHERE id = :id"), {"id": inv.id})


async def test_operator_without_series_code_defers_through_the_outbox(
    sessionmaker: async_sessionmaker[AsyncSession], lot: LotHandle
) -> None:
    async with transaction(sessionmaker) as db:
        await db.execute(
            text("UPDATE operators SET invoice_series_code = NULL WHERE id = :id"), {"id": lot.operator_id}
        )
    pid = await pending_payment(sessionmaker, lot, 25_000)
    async with transaction(sessionmaker) as db:
        assert await confirm_in(db, pid) is None  # the payment still confirms
    async with sessionmaker() as db:
        msg = (await db.execute(select(OutboxMessage).where(OutboxMessage.key == f"invoice.issue:{pid}"))).scalar_one()
        assert msg.payload == {"payment_id": str(pid)}
        rep = await verify_day(db, VN_TODAY)
        assert [m["payment_id"] for m in rep.missing_invoice] == [str(pid)]
    # once configured, the deferred message issues it
    from parking.invoices.service import TOPIC_ISSUE
    from parking.kit.outbox import OutboxContext, process_key

    async with transaction(sessionmaker) as db:
        await db.execute(
            text("UPDATE operators SET invoice_series_code = 'DEFER' WHERE id = :id"), {"id": lot.operator_id}
        )
    # Deliver the deferred message through the outbox's row lock: another worker may be delivering it too.
    await process_key(OutboxContext(sessionmaker, None), f"{TOPIC_ISSUE}:{pid}")
    async with sessionmaker() as db:
        inv = (await db.execute(select(Invoice).where(Invoice.payment_id == pid))).scalar_one()
        assert inv.mccqt.split("-")[2] == "DEFER"
        assert (await verify_day(db, VN_TODAY)).clean


async def test_verify_reports_missing_invoice_and_gap(
    db: AsyncSession, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    inv = await paid(sessionmaker, lot, 25_000)
    pid = await pending_payment(sessionmaker, lot, 7_000)
    # inside the test's own transaction, rolled back at the end: nothing stays dirty
    await db.execute(text("UPDATE payments SET status = 'confirmed', confirmed_at = now() WHERE id = :id"), {"id": pid})
    await db.execute(text("UPDATE invoice_series SET next_seq = next_seq + 2 WHERE id = :id"), {"id": inv.series_id})
    rep = await verify_day(db, VN_TODAY)
    assert not rep.clean
    assert str(pid) in [m["payment_id"] for m in rep.missing_invoice]
    gap = next(g for g in rep.gaps if g["symbol"].endswith("TT") and inv.seq + 1 in g["missing"])
    assert gap["missing"] == [inv.seq + 1, inv.seq + 2]
    await db.rollback()
    assert (await verify_day(db, VN_TODAY)).clean


async def test_verify_other_day_is_empty_and_clean(db: AsyncSession) -> None:
    rep = await verify_day(db, date(2020, 1, 1))
    assert rep.clean and rep.payments_checked == 0 and rep.invoices_checked == 0


async def test_vat_rate_follows_the_exit_day(sessionmaker: async_sessionmaker[AsyncSession], lot: LotHandle) -> None:
    # a stay that ended on 2025-06-30 (10 %) but is paid now is invoiced at that day's rate
    inv = await paid(sessionmaker, lot, 11_000, exit_at=datetime(2025, 6, 30, 10, 0, tzinfo=UTC))
    assert (inv.vat_rate_bp, inv.net_vnd, inv.vat_vnd) == (1000, 10_000, 1_000)


async def test_payments_confirm_issues_the_invoice_in_its_transaction(
    sessionmaker: async_sessionmaker[AsyncSession], lot: LotHandle
) -> None:
    """The real payments.confirm calls on_payment_confirmed in the same transaction (the integration)."""
    from parking.invoices.service import original_for_payment
    from parking.models import Payment
    from parking.payments.service import confirm

    pid = await pending_payment(sessionmaker, lot, 25_000)
    with pytest.raises(RuntimeError):
        async with transaction(sessionmaker) as db:
            payment = await db.get(Payment, pid)
            assert payment is not None
            await confirm(db, payment, provider_txn_id=f"t-{pid}")
            assert await original_for_payment(db, pid) is not None
            raise RuntimeError("confirmation rolled back")
    async with sessionmaker() as db:
        assert await original_for_payment(db, pid) is None  # rolled back together with the payment
    async with transaction(sessionmaker) as db:
        payment = await db.get(Payment, pid)
        assert payment is not None
        await confirm(db, payment, provider_txn_id=f"t-{pid}")
    async with sessionmaker() as db:
        inv = await original_for_payment(db, pid)
        assert inv is not None and inv.seq == 1 and inv.total_vnd == 25_000
        assert (await verify_day(db, VN_TODAY)).clean


async def test_an_invoice_refused_after_numbering_defers_without_a_gap(
    sessionmaker: async_sessionmaker[AsyncSession], lot: LotHandle
) -> None:
    from parking.invoices.service import TOPIC_ISSUE, BuyerDetails, on_payment_confirmed
    from parking.kit.outbox import OutboxContext, process_key

    first = await paid(sessionmaker, lot, 25_000)
    pid = await pending_payment(sessionmaker, lot, 25_000)
    async with transaction(sessionmaker) as db:
        await db.execute(
            text("UPDATE payments SET status = 'confirmed', confirmed_at = now() WHERE id = :id"), {"id": pid}
        )
        # our own schema refuses this buyer tax code after the number was taken
        assert await on_payment_confirmed(db, pid, BuyerDetails(name="X", tax_code="12AB")) is None
    nxt = await paid(sessionmaker, lot, 25_000)
    assert nxt.seq == first.seq + 1  # the savepoint gave the number back
    # Deliver the deferred message through the outbox's row lock: another worker may be delivering it too.
    await process_key(OutboxContext(sessionmaker, None), f"{TOPIC_ISSUE}:{pid}")
    async with sessionmaker() as db:
        late = (await db.execute(select(Invoice).where(Invoice.payment_id == pid))).scalar_one()
        assert late.seq == nxt.seq + 1
        assert (await verify_day(db, VN_TODAY)).clean


async def test_misconfigured_operator_is_named_in_the_error(
    sessionmaker: async_sessionmaker[AsyncSession], lot: LotHandle
) -> None:
    from parking.invoices.service import InvoiceConfigError, on_payment_confirmed

    async with transaction(sessionmaker) as db:
        await db.execute(text("UPDATE operators SET tax_code = '' WHERE id = :id"), {"id": lot.operator_id})
    pid = await pending_payment(sessionmaker, lot, 25_000)
    async with sessionmaker() as db:
        await db.execute(
            text("UPDATE payments SET status = 'confirmed', confirmed_at = now() WHERE id = :id"), {"id": pid}
        )
        with pytest.raises(InvoiceConfigError, match="tax_code"):
            await on_payment_confirmed(db, pid, defer_on_error=False)
        await db.rollback()
