"""Issue 13 finding 2: `invoices verify` checks per PAID SESSION (one original whose total is the fee,
adjustments linked), so the double-invoice scenario of the probe is reported, not answered clean."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.invoices import service as invoice_service
from parking.invoices import xml as X
from parking.invoices.verify import verify_day
from parking.models import Payment, Refund
from tests.factories import LotHandle
from tests.factories.invoices import paid, pending_payment

VN_TODAY = datetime.now(X.VN_TZ).date()


async def _second_original(db: AsyncSession, session_id: uuid.UUID, amount: int) -> Payment:
    """What the probe saw: another confirmed payment of the same session with its own original invoice."""
    now = datetime.now(UTC)
    p = Payment(
        id=uuid.uuid4(),
        session_id=session_id,
        purpose="session",
        amount_vnd=amount,
        status="confirmed",
        method="vietqr",
        provider="testbank2",
        flags=[],
        confirmed_at=now,
    )
    db.add(p)
    await db.flush()
    sale = await invoice_service._sale_of(db, p, now)
    await invoice_service._insert(
        db, kind="original", payment=p, sale=sale, issued_at=now, total_vnd=amount, rate_bp=800, buyer=None
    )
    return p


async def test_verify_fails_on_one_session_invoiced_twice(
    db: AsyncSession, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    first = await paid(sessionmaker, lot, 85_000)
    assert first.session_id is not None
    # The schema now refuses a second original for a session; a database written before it may hold one.
    # Inside the test's own transaction (rolled back at the end), lift that guard to build the old state.
    await db.execute(text("DROP INDEX IF EXISTS uq_invoices_one_original_per_session"))
    await _second_original(db, first.session_id, 255_000)
    rep = await verify_day(db, VN_TODAY)
    assert not rep.clean
    [row] = [r for r in rep.extra_invoices if r["session_id"] == str(first.session_id)]
    assert row["originals"] == 2 and row["fee_vnd"] == 85_000
    await db.rollback()


async def test_verify_fails_on_an_invoice_for_the_amount_received_not_the_fee(
    db: AsyncSession, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    pid = await pending_payment(sessionmaker, lot, 85_000)
    p = await db.get(Payment, pid)
    assert p is not None and p.session_id is not None
    # One transfer of 255,000 for an 85,000 fee, invoiced (as before the fix) for what was received.
    await db.execute(
        text("UPDATE payments SET amount_vnd = 255000, status = 'confirmed', confirmed_at = now() WHERE id = :id"),
        {"id": pid},
    )
    await db.refresh(p)
    sale = await invoice_service._sale_of(db, p, datetime.now(UTC))
    await invoice_service._insert(
        db,
        kind="original",
        payment=p,
        sale=sale,
        issued_at=datetime.now(UTC),
        total_vnd=255_000,
        rate_bp=800,
        buyer=None,
    )
    rep = await verify_day(db, VN_TODAY)
    assert not rep.clean
    [row] = [r for r in rep.amount_mismatch if r["session_id"] == str(p.session_id)]
    assert row["invoiced_vnd"] == 255_000 and row["fee_vnd"] == 85_000
    await db.rollback()


async def test_verify_reports_an_adjustment_not_linked_to_the_sessions_original(
    db: AsyncSession, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    first = await paid(sessionmaker, lot, 40_000)
    other = await paid(sessionmaker, lot, 30_000)
    p = await db.get(Payment, first.payment_id)
    assert p is not None
    r = Refund(id=uuid.uuid4(), payment_id=p.id, amount_vnd=5_000, reason="test", actor="test", status="succeeded")
    db.add(r)
    await db.flush()
    sale = await invoice_service._sale_of(db, p, first.issued_at)
    # An adjustment of this session's sale pointing at another session's invoice.
    await invoice_service._insert(
        db,
        kind="adjustment",
        payment=p,
        sale=sale,
        issued_at=datetime.now(UTC),
        total_vnd=-5_000,
        rate_bp=first.vat_rate_bp,
        buyer=None,
        related=other,
        related_note="test",
        refund_id=r.id,
    )
    rep = await verify_day(db, VN_TODAY)
    assert not rep.clean
    assert [r["session_id"] for r in rep.unlinked_adjustments] == [str(first.session_id)]
    await db.rollback()


async def test_verify_is_clean_for_a_session_paid_in_two_parts_and_invoiced_once(
    db: AsyncSession, lot: LotHandle, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    inv = await paid(sessionmaker, lot, 60_000)
    # A second, smaller payment of the same session without an invoice of its own is fine: the session has
    # exactly one original for its fee.
    db.add(
        Payment(
            id=uuid.uuid4(),
            session_id=inv.session_id,
            purpose="session",
            amount_vnd=10_000,
            status="confirmed",
            method="vietqr",
            provider="testbank3",
            flags=["unallocated"],
            confirmed_at=datetime.now(UTC),
        )
    )
    await db.flush()
    rep = await verify_day(db, VN_TODAY)
    mine = str(inv.session_id)
    for name in ("missing_invoice", "extra_invoices", "amount_mismatch", "unlinked_adjustments"):
        assert mine not in [r.get("session_id") for r in getattr(rep, name)], name
    await db.rollback()
