"""Scheduler jobs of payments (registered by the app factory): each runs in its own transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.kit.db import transaction
from parking.payments import service


async def expire_unpaid_qrs(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """QRs not paid in time become debts (run every minute or so)."""
    async with transaction(sessionmaker) as db:
        return await service.expire_intents(db)
