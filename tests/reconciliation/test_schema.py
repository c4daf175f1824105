"""Migration 0020 and parking/models/reconciliation.py describe the same tables, columns and indexes."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.models import Base

OURS = ("recon_", "ix_payments_confirmed_at", "ix_payments_intent_id", "ix_payment_intents_created_at")


def _names(diff: Any) -> str:
    return repr(diff)


async def test_reconciliation_schema_matches_the_models(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with sessionmaker() as db:
        conn = await db.connection()
        diffs = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata)
        )
    ours = [d for d in diffs if any(k in _names(d) for k in OURS)]
    assert ours == []
