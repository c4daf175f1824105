"""Alembic environment: async engine; URL from the caller (`parking migrate`, tests) or settings."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from parking.kit.partitions import partition_children, skip_partitions
from parking.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        from parking.settings import get_settings

        url = get_settings().database_url
    if not url:
        raise RuntimeError(
            "no database URL: use `parking migrate` (starts embedded PostgreSQL) or set PARKING_DATABASE_URL"
        )
    return str(url)


def _run(connection: Connection) -> None:
    # Monthly partitions are tables no model declares: autogenerate must not propose dropping them.
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        **skip_partitions(partition_children(connection)),
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_async_engine(_url())
    async with engine.connect() as conn:
        await conn.run_sync(_run)
        await conn.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
