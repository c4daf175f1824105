"""Async SQLAlchemy engine and the per-request transaction boundary."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def make_engine(url: str, pool_size: int = 20) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        # asyncpg's statement cache works with our static SQL; jit off keeps short OLTP queries predictable.
        connect_args={"server_settings": {"jit": "off", "application_name": "parking"}},
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def transaction(sm: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """The unit-of-work boundary: commit on success, roll back on any error. Services never commit."""
    async with sm() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
