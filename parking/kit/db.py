"""Async SQLAlchemy engine and the per-request transaction boundary."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from parking.kit import uow


def make_engine(
    url: str, pool_size: int = 20, connect_timeout_s: float = 5.0, command_timeout_s: float | None = 30.0
) -> AsyncEngine:
    # Bounded waits: with PostgreSQL out of reach (down, or a link that swallows packets) a request fails
    # within seconds as 503 service_unavailable instead of hanging on a connect or a query.
    connect_args: dict[str, object] = {
        # asyncpg's statement cache works with our static SQL; jit off keeps short OLTP queries predictable.
        "server_settings": {"jit": "off", "application_name": "parking"},
        "timeout": connect_timeout_s,
    }
    if command_timeout_s:
        connect_args["command_timeout"] = command_timeout_s
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_timeout=connect_timeout_s,
        connect_args=connect_args,
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def transaction(sm: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A job's unit of work: commit on success (then its after-commit effects), roll back on any error.

    Services never commit."""
    async with sm() as session:
        try:
            yield session
        except BaseException:
            await uow.rollback(session)
            raise
        await uow.commit(session)
