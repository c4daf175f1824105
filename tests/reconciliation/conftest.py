"""Fixtures of the reconciliation tests: a lot of their own, and the ledger invariant after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import LotHandle, make_lot


@pytest.fixture
async def recon_lot(sessionmaker: async_sessionmaker[AsyncSession]) -> LotHandle:
    return await make_lot(sessionmaker, capacities={"car_small": 500})


@pytest.fixture(autouse=True)
async def ledger_balanced(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Healing books money: every journal entry must still balance."""
    yield
    if "sessionmaker" not in request.fixturenames:
        return
    sm: async_sessionmaker[AsyncSession] = request.getfixturevalue("sessionmaker")
    async with sm() as db:
        bad = (
            await db.execute(text("SELECT entry_id FROM ledger_postings GROUP BY entry_id HAVING sum(amount_vnd) <> 0"))
        ).all()
    assert bad == []
