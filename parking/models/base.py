from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, MetaData, Table, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from uuid_utils.compat import uuid7

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)


def new_id() -> uuid.UUID:
    """A fresh UUIDv7 for a month-partitioned table (issue 14.5, migration 0070).

    ``gate_events``, ``parking_sessions`` and ``ledger_entries`` are range-partitioned on their UUID key: a
    UUIDv7 starts with its creation time in milliseconds, so the month's partition is an id range and the
    primary keys, the idempotency checks and the foreign keys stay single-column. Python 3.11 has no
    ``uuid.uuid7``; ``uuid_utils.compat`` returns a standard ``uuid.UUID``."""
    return uuid7()


def uuid7_pk() -> Mapped[uuid.UUID]:
    """The primary key of a table partitioned by month on its id: a time-ordered UUIDv7 (new_id)."""
    return mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)


def now_col() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


def table(model: type[Base]) -> Table:
    """The Core table of a model: hot paths use Core statements, which skip the ORM's per-statement work."""
    t = model.__table__
    assert isinstance(t, Table)
    return t
