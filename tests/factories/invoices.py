"""Builders for invoice tests: paid sessions confirmed the way payments confirms them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.invoices import service as invoice_service
from parking.invoices import tasks
from parking.invoices.provider import ProviderClient
from parking.invoices.signing import Credentials
from parking.kit import outbox
from parking.kit.db import transaction
from parking.models import Invoice, OutboxMessage, ParkingSession, Payment
from tests.factories import LotHandle

PLATE = "30A12345"


async def pending_payment(
    sm: async_sessionmaker[AsyncSession],
    lot: LotHandle,
    fee: int,
    *,
    plate: str = PLATE,
    exit_at: datetime | None = None,
    driver_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """A closed session owing ``fee`` and a pending payment for it, committed."""
    exit_at = exit_at or datetime.now(UTC)
    async with transaction(sm) as db:
        ps = ParkingSession(
            id=uuid.uuid4(),
            lot_id=lot.id,
            vehicle_class="car_small",
            plate=plate,
            status="closed",
            entry_at=exit_at - timedelta(hours=2, minutes=5),
            exit_at=exit_at,
            fee_vnd=fee,
            tariff_id="hanoi-44-2017",
            tariff_version="test",
            flags=[],
        )
        db.add(ps)
        await db.flush()
        p = Payment(
            id=uuid.uuid4(),
            session_id=ps.id,
            driver_id=driver_id,
            purpose="session",
            amount_vnd=fee,
            status="pending",
            method="vietqr",
            provider="testbank",
            flags=[],
        )
        db.add(p)
        await db.flush()
        return p.id


async def confirm_in(db: AsyncSession, payment_id: uuid.UUID, at: datetime | None = None) -> Invoice | None:
    """What payments.confirm does for invoices: mark confirmed, then issue in the same transaction."""
    await db.execute(
        update(Payment).where(Payment.id == payment_id).values(status="confirmed", confirmed_at=at or datetime.now(UTC))
    )
    return await invoice_service.on_payment_confirmed(db, payment_id)


async def paid(sm: async_sessionmaker[AsyncSession], lot: LotHandle, fee: int, **kw: Any) -> Invoice:
    pid = await pending_payment(sm, lot, fee, **kw)
    async with transaction(sm) as db:
        inv = await confirm_in(db, pid)
    assert inv is not None
    return inv


def outbox_ctx(
    sm: async_sessionmaker[AsyncSession], creds: Credentials, provider_url: str, timeout_s: float = 5.0
) -> outbox.OutboxContext:
    return outbox.OutboxContext(
        sm,
        None,
        {
            tasks.EXTRA_CREDENTIALS: lambda _op: creds,
            tasks.EXTRA_PROVIDER: ProviderClient(provider_url, timeout_s),
        },
    )


async def deliver(ctx: outbox.OutboxContext, invoice_id: uuid.UUID, max_rounds: int = 10) -> OutboxMessage:
    """Run the real outbox worker until this invoice's message is processed (or dead), skipping backoff."""
    key = f"{invoice_service.TOPIC_TRANSMIT}:{invoice_id}"
    for _ in range(max_rounds):
        async with transaction(ctx.sessionmaker) as db:
            await db.execute(
                update(OutboxMessage)
                .where(OutboxMessage.key == key)
                .values(available_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        await outbox.process_batch(ctx, limit=50)
        async with ctx.sessionmaker() as db:
            msg = (await db.execute(select(OutboxMessage).where(OutboxMessage.key == key))).scalar_one()
            if msg.processed_at is not None or msg.dead:
                return msg
    raise AssertionError(f"message {key} not delivered in {max_rounds} rounds")


async def drain_invoices(ctx: outbox.OutboxContext, max_rounds: int = 20) -> None:
    """Deliver invoice messages left by earlier tests, so a test's injected faults hit its own message."""
    for _ in range(max_rounds):
        async with transaction(ctx.sessionmaker) as db:
            await db.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.topic == invoice_service.TOPIC_TRANSMIT,
                    OutboxMessage.processed_at.is_(None),
                )
                .values(available_at=datetime.now(UTC) - timedelta(seconds=1))
            )
            pending = (
                await db.execute(
                    select(func.count()).where(
                        OutboxMessage.topic == invoice_service.TOPIC_TRANSMIT,
                        OutboxMessage.processed_at.is_(None),
                        OutboxMessage.dead.is_(False),
                    )
                )
            ).scalar_one()
        if pending == 0:
            return
        await outbox.process_batch(ctx, limit=100)
    raise AssertionError("invoice messages still pending")
