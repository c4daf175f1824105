"""Monthly range partitions: bounds, creation ahead of time, retention by DETACH (issue 14.5).

The partitioned tables are discovered from PostgreSQL's catalog (``pg_partitioned_table``), so this module names
no domain table. A table partitioned on a ``uuid`` column holds UUIDv7 ids (their first 48 bits are the creation
time in milliseconds): the month's bounds are the smallest UUIDs of the first milliseconds of the month and of the
next month. A table partitioned on a ``timestamptz`` column takes the month's instants directly. Months are
Vietnamese calendar months (Asia/Ho_Chi_Minh), the periods the accounts and the VAT returns use.

Each table also has a DEFAULT partition: ids that are not UUIDv7 (an old lane agent's UUIDv4) land there and keep
working. Partition names are ``<table>_pYYYYMM`` and ``<table>_default``. A detached month moves to the
``archive`` schema: still queryable, out of the live tables' plans, ready to be dumped to cold storage; nothing
here ever drops data.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from parking.vocabulary import VN_TZ

log = structlog.get_logger(__name__)

ARCHIVE_SCHEMA = "archive"
_MONTH_NAME = re.compile(r"_p(\d{4})(\d{2})(?:_\d+)?$")


def month_start(d: date) -> date:
    return date(d.year, d.month, 1)


def add_months(d: date, n: int) -> date:
    """The first day of the month ``n`` months after ``d``'s month (``n`` may be negative)."""
    index = d.year * 12 + (d.month - 1) + n
    return date(index // 12, index % 12 + 1, 1)


def month_instant(month: date) -> datetime:
    """The first instant of a Vietnamese calendar month, tz-aware."""
    return datetime(month.year, month.month, 1, tzinfo=VN_TZ)


def uuid7_floor(at: datetime) -> uuid.UUID:
    """The smallest UUID whose 48-bit UUIDv7 time prefix is ``at`` (milliseconds): every UUIDv7 minted at or
    after ``at`` compares greater or equal (PostgreSQL compares uuids byte by byte, as this integer)."""
    if at.tzinfo is None:
        raise ValueError("naive datetime")
    ms = int(at.timestamp() * 1000)
    return uuid.UUID(int=ms << 80)


def month_of_uuid7(value: uuid.UUID) -> date:
    """The Vietnamese calendar month a UUIDv7 was minted in."""
    ms = value.int >> 80
    return month_start(datetime.fromtimestamp(ms / 1000, tz=VN_TZ).date())


def partition_name(table: str, month: date) -> str:
    return f"{table}_p{month.year:04d}{month.month:02d}"


def month_of_partition(name: str) -> date | None:
    m = _MONTH_NAME.search(name)
    return date(int(m.group(1)), int(m.group(2)), 1) if m else None


def bounds(key_type: str, month: date) -> tuple[str, str]:
    """SQL literals FROM/TO of a month's partition for a key column of type ``uuid`` or ``timestamptz``."""
    lo, hi = month_instant(month), month_instant(add_months(month, 1))
    if key_type == "uuid":
        return f"'{uuid7_floor(lo)}'", f"'{uuid7_floor(hi)}'"
    if key_type == "timestamptz":
        return f"'{lo.isoformat()}'", f"'{hi.isoformat()}'"
    raise ValueError(f"no monthly bounds for a {key_type} partition key")


def create_partition_sql(table: str, key_type: str, month: date) -> str:
    lo, hi = bounds(key_type, month)
    return (
        f'CREATE TABLE IF NOT EXISTS "{partition_name(table, month)}" PARTITION OF "{table}" '
        f"FOR VALUES FROM ({lo}) TO ({hi})"
    )


def _bound_values(key_type: str, month: date) -> tuple[int | datetime, int | datetime]:
    lo, hi = month_instant(month), month_instant(add_months(month, 1))
    if key_type == "uuid":
        return uuid7_floor(lo).int, uuid7_floor(hi).int
    if key_type == "timestamptz":
        return lo, hi
    raise ValueError(f"no monthly bounds for a {key_type} partition key")


def _literal(key_type: str, value: int | datetime) -> str:
    if isinstance(value, int):
        return f"'{uuid.UUID(int=value)}'"
    return f"'{value.isoformat()}'"


def _after(value: int | datetime) -> int | datetime:
    """The next representable key: a range bound just past a single value."""
    return value + 1 if isinstance(value, int) else value + timedelta(microseconds=1)


def month_pieces(table: str, key_type: str, month: date, strays: Sequence[Any]) -> list[tuple[str, str, str]]:
    """The partitions (name, FROM, TO) of a month whose range holds ``strays``: rows already in the DEFAULT
    partition (an old agent's UUIDv4 that happens to fall in the month's id range, given as ints; or instants).
    PostgreSQL refuses a partition over rows the DEFAULT partition holds, so the month is cut around those single
    values, which stay where they are; without strays it is one partition named ``<table>_pYYYYMM``."""
    lo, hi = _bound_values(key_type, month)
    cuts: list[tuple[Any, Any]] = []
    cursor: Any = lo
    for value in sorted(set(strays)):
        if not lo <= value < hi:
            continue
        if cursor < value:
            cuts.append((cursor, value))
        cursor = _after(value)
    if cursor < hi:
        cuts.append((cursor, hi))
    name = partition_name(table, month)
    return [
        (name if i == 0 else f"{name}_{i + 1}", _literal(key_type, a), _literal(key_type, b))
        for i, (a, b) in enumerate(cuts)
    ]


def expired(month: date, today: date, retention_months: int) -> bool:
    """A month is past retention when it ended more than ``retention_months`` whole months before this month
    began: with 24, on any day of 2026-12 the oldest month kept is 2024-12."""
    return add_months(month, 1) <= add_months(month_start(today), -retention_months)


@dataclass(frozen=True)
class PartitionedTable:
    name: str
    key_column: str
    key_type: str  # "uuid" | "timestamptz"


_DISCOVER = text(
    """
    SELECT c.relname, a.attname, format_type(a.atttypid, NULL)
      FROM pg_partitioned_table p
      JOIN pg_class c ON c.oid = p.partrelid
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = p.partattrs[0]
     WHERE c.relnamespace = 'public'::regnamespace AND p.partstrat = 'r'
     ORDER BY c.relname
    """
)

_CHILDREN = text(
    """
    SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = CAST(:parent AS regclass) ORDER BY c.relname
    """
)


async def partitioned_tables(db: AsyncSession) -> list[PartitionedTable]:
    rows = (await db.execute(_DISCOVER)).all()
    return [PartitionedTable(r[0], r[1], "timestamptz" if r[2] == "timestamp with time zone" else r[2]) for r in rows]


async def children(db: AsyncSession, table: str) -> list[str]:
    return list((await db.execute(_CHILDREN, {"parent": f'public."{table}"'})).scalars())


async def create_ahead(db: AsyncSession, today: date, months_ahead: int) -> list[str]:
    """Create this month's and the next ``months_ahead`` months' partitions of every partitioned table.

    Idempotent (``IF NOT EXISTS``). Each month is created in a savepoint under a short lock timeout: the gate's
    inserts hold the parent table, and a busy moment must delay the job (it runs again), never the gate. A month
    whose id range already holds rows in the DEFAULT partition is cut around them (``month_pieces``).
    """
    created: list[str] = []
    for t in await partitioned_tables(db):
        existing = set(await children(db, t.name))
        default = f"{t.name}_default"
        for n in range(months_ahead + 1):
            month = add_months(month_start(today), n)
            if partition_name(t.name, month) in existing:
                continue
            lo, hi = bounds(t.key_type, month)
            strays = (
                list(
                    (
                        await db.execute(
                            text(
                                f'SELECT "{t.key_column}" FROM "{default}" '
                                f'WHERE "{t.key_column}" >= {lo} AND "{t.key_column}" < {hi}'
                            )
                        )
                    ).scalars()
                )
                if default in existing
                else []
            )
            values = [v.int for v in strays] if t.key_type == "uuid" else strays
            pieces = month_pieces(t.name, t.key_type, month, values)
            try:
                async with db.begin_nested():
                    await db.execute(text("SET LOCAL lock_timeout = '2s'"))
                    for name, a, b in pieces:
                        await db.execute(
                            text(
                                f'CREATE TABLE IF NOT EXISTS "{name}" PARTITION OF "{t.name}" '
                                f"FOR VALUES FROM ({a}) TO ({b})"
                            )
                        )
            except DBAPIError as exc:
                log.warning("partition_create_failed", table=t.name, month=str(month), error=str(exc.orig)[:300])
                continue
            if strays:
                log.warning("partition_month_cut_around_default_rows", table=t.name, month=str(month), rows=len(strays))
            created.extend(name for name, _, _ in pieces)
    if created:
        log.info("partitions_created", partitions=created)
    return created


async def detach_expired(db: AsyncSession, today: date, retention_months: Mapping[str, int]) -> list[str]:
    """Detach the monthly partitions past their table's retention and move them to the ``archive`` schema.

    ``retention_months`` maps a table to its retention; a table not in it is never detached. PostgreSQL refuses
    to detach a month whose rows are still referenced by a foreign key (a payment's session, a session's entry
    event): that month stays attached and is logged, so retention never breaks a reference.
    """
    detached: list[str] = []
    await db.execute(text(f"CREATE SCHEMA IF NOT EXISTS {ARCHIVE_SCHEMA}"))
    for t in await partitioned_tables(db):
        keep = retention_months.get(t.name)
        if keep is None:
            continue
        for name in await children(db, t.name):
            month = month_of_partition(name)
            if month is None or not expired(month, today, keep):
                continue
            try:
                async with db.begin_nested():
                    await db.execute(text("SET LOCAL lock_timeout = '2s'"))
                    await db.execute(text(f'ALTER TABLE "{t.name}" DETACH PARTITION "{name}"'))
                    await db.execute(text(f'ALTER TABLE "{name}" SET SCHEMA {ARCHIVE_SCHEMA}'))
            except DBAPIError as exc:
                log.warning("partition_detach_blocked", partition=name, error=str(exc.orig)[:300])
                continue
            detached.append(name)
    if detached:
        log.info("partitions_detached", partitions=detached)
    return detached


async def maintain(
    db: AsyncSession, today: date, months_ahead: int, retention_months: Mapping[str, int]
) -> tuple[list[str], list[str]]:
    """The scheduler's job: months ahead created, months past retention detached."""
    return await create_ahead(db, today, months_ahead), await detach_expired(db, today, retention_months)


def partition_children(conn: Connection) -> set[str]:
    """Names of the partitions in the public schema: tables the models do not declare (the drift check and
    autogenerate skip them; their parent is compared)."""
    rows = conn.execute(
        text("SELECT relname FROM pg_class WHERE relispartition AND relnamespace = 'public'::regnamespace")
    )
    return {r[0] for r in rows}


def skip_partitions(partitions: set[str]) -> dict[str, Any]:
    """Alembic ``include_name``/``include_object`` hooks that leave out the partition tables and the foreign keys
    PostgreSQL clones onto them (a foreign key to a partitioned table has one internal copy per partition)."""

    def include_name(name: str | None, type_: str, parent_names: Mapping[str, str | None]) -> bool:
        return not (type_ == "table" and name in partitions)

    def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if type_ == "foreign_key_constraint" and reflected:
            return obj.referred_table.name not in partitions
        return True

    return {"include_name": include_name, "include_object": include_object}
