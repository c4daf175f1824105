"""FastAPI dependencies: the request's transaction, Redis, settings, the shared app state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from parking.kit import uow
from parking.settings import Settings


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    redis: Redis
    lanes: Any  # parking.lanes.auth.LaneCache (kit imports no domain)
    tariffs: Any  # parking.pricing.TariffBook
    extras: dict[str, Any] = field(default_factory=dict)


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.parking
    return state


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: committed when the endpoint returns (before the response is sent), then its
    after-commit effects run; rolled back, effects dropped, when the endpoint raises. Endpoints never commit."""
    state: AppState = request.app.state.parking
    async with state.sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await uow.rollback(session)
            raise
        await uow.commit(session)


State = Annotated[AppState, Depends(get_state)]
# scope="function": the dependency's exit (the commit) runs when the endpoint returns, before the response is sent,
# so a client never sees an answer whose transaction did not commit.
DB = Annotated[AsyncSession, Depends(get_db, scope="function")]
