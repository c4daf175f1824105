"""SQL of the ledger: write a journal entry once, read balances. No business rules here."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import ScalarSelect

from parking.ledger import rules
from parking.models import LedgerEntry, LedgerEntryKey, LedgerPosting
from parking.models.base import new_id


async def post_entry(db: AsyncSession, entry: rules.JournalEntry) -> bool:
    """Write a journal entry once; a replay with the same idempotency key is a no-op (returns False).

    The key's uniqueness is claimed in ``ledger_entry_keys`` by the insert trigger (migration 0070), which skips
    the row when the key is taken: no row comes back, as with ``ON CONFLICT DO NOTHING`` before partitioning."""
    entry_id = (
        await db.execute(
            insert(LedgerEntry)
            .values(
                id=new_id(),
                kind=entry.kind,
                idempotency_key=entry.idempotency_key,
                session_id=entry.session_id,
                payment_id=entry.payment_id,
                reverses_key=entry.reverses_key,
                memo=entry.memo,
            )
            .returning(LedgerEntry.id)
        )
    ).scalar_one_or_none()
    if entry_id is None:
        return False
    await db.execute(
        insert(LedgerPosting),
        [{"entry_id": entry_id, "account": p.account, "amount_vnd": p.amount_vnd} for p in entry.postings],
    )
    return True


def _entry_of(key: str) -> ScalarSelect[uuid.UUID]:
    # Through ledger_entry_keys (one probe), then the postings of one month's partition, not every month's index.
    return select(LedgerEntryKey.entry_id).where(LedgerEntryKey.idempotency_key == key).scalar_subquery()


async def entry_postings(db: AsyncSession, key: str) -> tuple[rules.Posting, ...]:
    rows = (
        await db.execute(
            select(LedgerPosting.account, LedgerPosting.amount_vnd)
            .where(LedgerPosting.entry_id == _entry_of(key))
            .order_by(LedgerPosting.id)
        )
    ).all()
    return tuple(rules.Posting(a, v) for a, v in rows)


async def receivable_outstanding(db: AsyncSession, session_id: uuid.UUID) -> int:
    """What the session still owes, read from the ledger (the source of truth for money)."""
    total = (
        await db.execute(
            select(func.coalesce(func.sum(LedgerPosting.amount_vnd), 0))
            .join(LedgerEntry, LedgerEntry.id == LedgerPosting.entry_id)
            .where(LedgerEntry.session_id == session_id, LedgerPosting.account == rules.RECEIVABLE)
        )
    ).scalar_one()
    return int(total)


async def fee_recognised(db: AsyncSession, session_id: uuid.UUID) -> int | None:
    """The fee the ledger recognised for a session (net of reversals); None when it recognised none."""
    rows = (
        await db.execute(
            select(LedgerPosting.amount_vnd)
            .join(LedgerEntry, LedgerEntry.id == LedgerPosting.entry_id)
            .where(
                LedgerEntry.session_id == session_id,
                LedgerPosting.account == rules.RECEIVABLE,
                or_(LedgerEntry.kind == "fee", LedgerEntry.reverses_key == f"fee:{session_id}"),
            )
        )
    ).scalars()
    amounts = list(rows)
    return int(sum(amounts)) if amounts else None


async def unbalanced_entries(db: AsyncSession) -> list[dict[str, Any]]:
    rows = (
        await db.execute(
            select(LedgerPosting.entry_id, func.sum(LedgerPosting.amount_vnd), func.count())
            .group_by(LedgerPosting.entry_id)
            .having((func.sum(LedgerPosting.amount_vnd) != 0) | (func.count() < 2))
        )
    ).all()
    return [{"entry_id": str(e), "sum": int(s), "postings": int(n)} for e, s, n in rows]


async def account_balances(db: AsyncSession) -> dict[str, int]:
    rows = (
        await db.execute(
            select(LedgerPosting.account, func.sum(LedgerPosting.amount_vnd)).group_by(LedgerPosting.account)
        )
    ).all()
    return {a: int(s) for a, s in rows}


async def account_total_of_entry(db: AsyncSession, key: str, account: str) -> int:
    """Sum of one account's postings in the entry with this idempotency key (0 when there is none)."""
    total = (
        await db.execute(
            select(func.coalesce(func.sum(LedgerPosting.amount_vnd), 0)).where(
                LedgerPosting.entry_id == _entry_of(key), LedgerPosting.account == account
            )
        )
    ).scalar_one()
    return int(total)
