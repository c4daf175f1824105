from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, MetaData, Table, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from parking.kit.ids import new_id

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


def uuid7_pk() -> Mapped[uuid.UUID]:
    """The primary key of a table partitioned by month on its id: a time-ordered UUIDv7 (parking.kit.ids)."""
    return mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)


def now_col() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


def table(model: type[Base]) -> Table:
    """The Core table of a model: hot paths use Core statements, which skip the ORM's per-statement work."""
    t = model.__table__
    assert isinstance(t, Table)
    return t
