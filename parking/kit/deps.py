"""FastAPI dependencies: the request's transaction, Redis, settings, the shared app state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

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
    """One transaction per request: committed by the endpoint via `commit`, rolled back on error."""
    state: AppState = request.app.state.parking
    async with state.sessionmaker() as session:
        try:
            yield session
        finally:
            if session.in_transaction():
                await session.rollback()


State = Annotated[AppState, Depends(get_state)]
DB = Annotated[AsyncSession, Depends(get_db)]
