"""Ledger checks. Runs in the caller's transaction; never commits."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from parking.ledger import repository as repo


async def ledger_check(db: AsyncSession) -> dict[str, Any]:
    """The double-entry invariant (every entry sums to zero) and the balance of every account."""
    bad = await repo.unbalanced_entries(db)
    balances = await repo.account_balances(db)
    return {
        "balanced": not bad,
        "unbalanced_entries": bad,
        "balances": balances,
        "total": sum(balances.values()),
    }
