"""Fixtures of the reconciliation tests: a lot of their own, and the ledger invariant after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.payments.settings import PaymentSettings, use_payment_settings
from tests.factories import LotHandle, make_lot
from tests.factories.payment_simulator import run_simulator

SECRET = "recon-test-secret"


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


@pytest.fixture(scope="session")
def recon_sim(live_server: Any) -> Iterator[str]:
    """The payment simulator as a real HTTP server, notifying the live API (as in the payments tests)."""
    with run_simulator(SECRET, webhook_url=live_server.url) as url:
        use_payment_settings(
            PaymentSettings(
                provider_base_url=url,
                provider_secret=SECRET,
                sepay_auth="hmac",  # the simulator's webhook uses SePay's HMAC method (one method per webhook)
                sepay_api_key=SECRET,
                sepay_hmac_secret=SECRET,
                vnpay_hash_secret=SECRET,
            )
        )
        yield url
        use_payment_settings(None)
