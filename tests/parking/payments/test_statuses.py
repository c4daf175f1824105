"""Issue 9 item 2: statuses are StrEnums in the model modules, mirrored by CHECK constraints in the database
(read back from PostgreSQL's catalogue, so the two cannot drift apart silently)."""

from __future__ import annotations

import re
from enum import StrEnum

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from parking.models import (
    DebtStatus,
    IntentStatus,
    InvoiceEventStatus,
    InvoiceStatus,
    OutboxStatus,
    PaymentStatus,
    RefundStatus,
)

MIRRORED = [
    ("payments", "status", PaymentStatus),
    ("payment_intents", "status", IntentStatus),
    ("debts", "status", DebtStatus),
    ("refunds", "status", RefundStatus),
    ("invoices", "status", InvoiceStatus),
    ("invoice_events", "status", InvoiceEventStatus),
]


async def _allowed(db: AsyncSession, table: str, column: str) -> list[set[str]]:
    rows = (
        await db.execute(
            text(
                "SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
                "WHERE t.relname = :t AND c.contype = 'c'"
            ),
            {"t": table},
        )
    ).scalars()
    # e.g. CHECK (((status)::text = ANY ((ARRAY['open'::character varying, ...])::text[])))
    pattern = re.compile(rf"\(\(?{column}\)?::text = ANY")
    return [set(re.findall(r"'([^']*)'::", d)) for d in rows if pattern.search(d)]


@pytest.mark.parametrize(("table", "column", "enum"), MIRRORED, ids=[f"{t}.{c}" for t, c, _ in MIRRORED])
async def test_each_status_enum_is_mirrored_by_a_check_constraint(
    db: AsyncSession, table: str, column: str, enum: type[StrEnum]
) -> None:
    assert await _allowed(db, table, column) == [{m.value for m in enum}]


async def test_an_outbox_message_is_never_both_processed_and_dead(db: AsyncSession) -> None:
    assert {s.value for s in OutboxStatus} == {"pending", "processed", "dead"}
    with pytest.raises(IntegrityError) as e:
        await db.execute(
            text(
                "INSERT INTO outbox (topic, key, payload, processed_at, dead) VALUES ('t', 'k-both', '{}', now(), true)"
            )
        )
    assert "ck_outbox_processed_or_dead" in str(e.value)
    await db.rollback()
