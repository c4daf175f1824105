"""Month partitions (issue 14.5): bounds, months created ahead, retention by DETACH, rows in the right month,
and the global rules the partitioned tables hand to their small unpartitioned companions."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
import uuid_utils.compat
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from parking.kit import partitions as p
from parking.models.base import new_id
from parking.vocabulary import VN_TZ
from tests.factories import LotHandle

TABLES = ("audit_log", "gate_events", "ledger_entries", "ledger_postings", "parking_sessions")
instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)).map(
    lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)
)


@given(instants)
def test_a_uuid7_minted_at_an_instant_falls_in_that_months_bounds(at: datetime) -> None:
    u = uuid_utils.compat.uuid7(nanoseconds=int(at.timestamp() * 1000) * 1_000_000)
    month = at.astimezone(VN_TZ).date().replace(day=1)
    lo = p.uuid7_floor(p.month_instant(month))
    hi = p.uuid7_floor(p.month_instant(p.add_months(month, 1)))
    assert lo.int <= u.int < hi.int
    assert p.month_of_uuid7(u) == month


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2200, 1, 1)), st.integers(-400, 400))
def test_add_months_walks_whole_months(d: date, n: int) -> None:
    m = p.add_months(d, n)
    assert m.day == 1
    assert (m.year * 12 + m.month) - (d.year * 12 + d.month) == n
    assert p.add_months(m, -n) == p.month_start(d)


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)), st.integers(0, 200))
def test_retention_keeps_exactly_the_last_months(today: date, keep: int) -> None:
    this = p.month_start(today)
    assert not p.expired(this, today, keep)
    assert not p.expired(p.add_months(this, -keep), today, keep)
    assert p.expired(p.add_months(this, -keep - 1), today, keep)


@given(st.lists(st.integers(0, 999), max_size=6), st.sampled_from(["uuid", "timestamptz"]))
def test_a_month_cut_around_default_rows_covers_the_rest_of_it_exactly(offsets: list[int], key_type: str) -> None:
    month = date(2027, 3, 1)
    lo, hi = p.month_instant(month), p.month_instant(p.add_months(month, 1))
    if key_type == "uuid":
        base = p.uuid7_floor(lo).int
        strays: list[object] = [base + (o << 80) + (4 << 76) for o in offsets]  # UUIDv4-looking, in the month
        parse = lambda lit: uuid.UUID(lit.strip("'")).int  # noqa: E731
        start, end = base, p.uuid7_floor(hi).int
    else:
        strays = [lo + timedelta(seconds=o) for o in offsets]
        parse = lambda lit: datetime.fromisoformat(lit.strip("'"))  # noqa: E731
        start, end = lo, hi  # type: ignore[assignment]
    pieces = [(name, parse(a), parse(b)) for name, a, b in p.month_pieces("t", key_type, month, strays)]
    assert pieces[0][0] == "t_p202703" and len({n for n, _, _ in pieces}) == len(pieces)
    assert all(a < b for _, a, b in pieces)
    # Consecutive, each gap exactly one stray value, from the month's start to its end.
    edges = [start, *(x for _, a, b in pieces for x in (a, b)), end]
    for gap_start, gap_end in zip(edges[::2], edges[1::2], strict=True):
        assert gap_start == gap_end or (gap_start in strays and p._after(gap_start) == gap_end)
    for stray in strays:
        assert not any(a <= stray < b for _, a, b in pieces)  # type: ignore[operator]


def test_month_bounds_are_vietnamese_calendar_months() -> None:
    lo, hi = p.bounds("timestamptz", date(2026, 12, 1))
    assert lo == "'2026-12-01T00:00:00+07:00'" and hi == "'2027-01-01T00:00:00+07:00'"
    # 30 November 17:30 UTC is already 1 December in Hanoi.
    at = datetime(2026, 11, 30, 17, 30, tzinfo=UTC)
    assert p.month_of_uuid7(uuid_utils.compat.uuid7(nanoseconds=int(at.timestamp()) * 10**9)) == date(2026, 12, 1)
    with pytest.raises(ValueError):
        p.uuid7_floor(datetime(2026, 12, 1))


async def _where(db: AsyncSession, table: str, column: str, value: object) -> str:
    return str(
        (await db.execute(text(f"SELECT tableoid::regclass::text FROM {table} WHERE {column} = :v"), {"v": value}))
        .scalars()
        .one()
    )


async def test_months_ahead_are_created_once(db: AsyncSession) -> None:
    today = datetime.now(VN_TZ).date()
    created = await p.create_ahead(db, today, 5)
    again = await p.create_ahead(db, today, 5)
    await db.commit()
    assert again == []
    for table in TABLES:
        names = set(await p.children(db, table))
        for n in range(6):
            assert p.partition_name(table, p.add_months(today, n)) in names
        assert f"{table}_default" in names
    # The migration made this month up to 3 ahead; the job added the 4th and 5th for every table.
    assert {p.partition_name(t, p.add_months(today, 5)) for t in TABLES} <= set(created)


async def test_a_month_over_an_old_agents_id_is_cut_around_it(db: AsyncSession, lot: LotHandle) -> None:
    # A UUIDv4 already in the DEFAULT partition happens to fall in month +7's id range: PostgreSQL would refuse
    # that month's partition; the job cuts the month around the single id, which keeps working where it is.
    month = p.add_months(datetime.now(VN_TZ).date(), 7)
    v4 = uuid.UUID(int=p.uuid7_floor(p.month_instant(month) + timedelta(days=3)).int | (4 << 76) | (2 << 62) | 77)
    await db.execute(
        text(
            "INSERT INTO gate_events (id, lane_id, lot_id, kind, confidence, vehicle_class, captured_at, "
            "request_hash, has_image) VALUES (:id, :lane, :lot, 'entry', 0.9, 'car_small', now(), 'x', false)"
        ),
        {"id": v4, "lane": lot.entry.id, "lot": lot.id},
    )
    await db.commit()
    created = await p.create_ahead(db, datetime.now(VN_TZ).date(), 7)
    await db.commit()
    base = p.partition_name("gate_events", month)
    assert {base, base + "_2"} <= set(created)
    assert await _where(db, "gate_events", "id", v4) == "gate_events_default"
    in_month = uuid_utils.compat.uuid7(nanoseconds=int(p.month_instant(month).timestamp() + 86400 * 20) * 10**9)
    await db.execute(
        text(
            "INSERT INTO gate_events (id, lane_id, lot_id, kind, confidence, vehicle_class, captured_at, "
            "request_hash, has_image) VALUES (:id, :lane, :lot, 'entry', 0.9, 'car_small', now(), 'x', false)"
        ),
        {"id": in_month, "lane": lot.entry.id, "lot": lot.id},
    )
    await db.commit()
    assert await _where(db, "gate_events", "id", in_month) == base + "_2"
    assert p.month_of_partition(base + "_2") == month
    assert not [n for n in await p.create_ahead(db, datetime.now(VN_TZ).date(), 7) if n.startswith("gate_events")]
    await db.rollback()


async def test_rows_land_in_their_month(db: AsyncSession, lot: LotHandle) -> None:
    this_month = p.partition_name("gate_events", datetime.now(VN_TZ).date())
    v7, old_client = new_id(), uuid.UUID("ffffffff-0000-4000-8000-000000000001")  # a UUIDv4 above any month
    for event_id in (v7, old_client):
        await db.execute(
            text(
                "INSERT INTO gate_events (id, lane_id, lot_id, kind, confidence, vehicle_class, captured_at, "
                "request_hash, has_image) VALUES (:id, :lane, :lot, 'entry', 0.9, 'car_small', now(), 'x', false)"
            ),
            {"id": event_id, "lane": lot.entry.id, "lot": lot.id},
        )
    await db.execute(
        text("INSERT INTO audit_log (actor, action, entity, entity_id, data) VALUES ('t', 'p', 'e', :i, '{}')"),
        {"i": str(v7)},
    )
    await db.commit()
    assert await _where(db, "gate_events", "id", v7) == this_month
    assert await _where(db, "gate_events", "id", old_client) == "gate_events_default"
    assert await _where(db, "audit_log", "entity_id", str(v7)) == this_month.replace("gate_events", "audit_log")


async def test_a_month_past_retention_is_detached_to_the_archive(db: AsyncSession) -> None:
    old = date(2020, 1, 1)
    await db.execute(text(p.create_partition_sql("audit_log", "timestamptz", old)))
    await db.execute(
        text(
            "INSERT INTO audit_log (at, actor, action, entity, entity_id, data) "
            "VALUES (:at, 't', 'old', 'e', 'x', '{}')"
        ),
        {"at": datetime(2020, 1, 10, tzinfo=UTC)},
    )
    await db.commit()
    today = datetime.now(VN_TZ).date()
    kept = p.partition_name("audit_log", p.add_months(today, -1))
    detached = await p.detach_expired(db, today, {"audit_log": 24})
    await db.commit()
    assert detached == ["audit_log_p202001"]
    assert "audit_log_p202001" not in await p.children(db, "audit_log") and kept in await p.children(db, "audit_log")
    assert (await db.execute(text("SELECT count(*) FROM audit_log WHERE action = 'old'"))).scalar_one() == 0
    # Detached, not dropped: the month is whole in the archive schema.
    assert (await db.execute(text("SELECT count(*) FROM archive.audit_log_p202001"))).scalar_one() == 1
    assert await p.detach_expired(db, today, {"audit_log": 24}) == []


async def test_a_month_still_referenced_stays_attached(db: AsyncSession, lot: LotHandle) -> None:
    # A session (kept longer) still points at an event of 2020-02: PostgreSQL refuses the detach, the job
    # logs it and leaves the month in place instead of breaking the reference.
    old = date(2020, 2, 1)
    await db.execute(text(p.create_partition_sql("gate_events", "uuid", old)))
    event_id = uuid_utils.compat.uuid7(nanoseconds=int(datetime(2020, 2, 5, tzinfo=UTC).timestamp()) * 10**9)
    await db.execute(
        text(
            "INSERT INTO gate_events (id, lane_id, lot_id, kind, confidence, vehicle_class, captured_at, "
            "request_hash, has_image) VALUES (:id, :lane, :lot, 'entry', 0.9, 'car_small', now(), 'x', false)"
        ),
        {"id": event_id, "lane": lot.entry.id, "lot": lot.id},
    )
    await db.execute(
        text(
            "INSERT INTO parking_sessions (id, lot_id, vehicle_class, status, entry_event_id) "
            "VALUES (:s, :lot, 'car_small', 'closed', :e)"
        ),
        {"s": new_id(), "lot": lot.id, "e": event_id},
    )
    await db.commit()
    assert await _where(db, "gate_events", "id", event_id) == "gate_events_p202002"
    detached = await p.detach_expired(db, datetime.now(VN_TZ).date(), {"gate_events": 24})
    await db.commit()
    assert "gate_events_p202002" not in detached
    assert "gate_events_p202002" in await p.children(db, "gate_events")


async def test_one_open_session_per_plate_holds_across_months(
    sessionmaker: async_sessionmaker[AsyncSession], lot: LotHandle
) -> None:
    # Two open sessions whose ids fall in different months' partitions: still refused (open_sessions).
    last_month = uuid_utils.compat.uuid7(nanoseconds=int((datetime.now(UTC) - timedelta(days=40)).timestamp()) * 10**9)
    insert = text(
        "INSERT INTO parking_sessions (id, lot_id, vehicle_class, plate, status) "
        "VALUES (:id, :lot, 'car_small', '29A77777', :status)"
    )
    async with sessionmaker() as db:
        await db.execute(insert, {"id": last_month, "lot": lot.id, "status": "open"})
        await db.commit()
        with pytest.raises(IntegrityError, match="uq_parking_sessions_open_plate"):
            await db.execute(insert, {"id": new_id(), "lot": lot.id, "status": "open"})
        await db.rollback()
        # Closing frees the plate; a new stay opens in this month.
        await db.execute(text("UPDATE parking_sessions SET status = 'closed' WHERE id = :id"), {"id": last_month})
        await db.execute(insert, {"id": new_id(), "lot": lot.id, "status": "open"})
        await db.commit()
        rows = (
            await db.execute(text("SELECT count(*) FROM open_sessions WHERE lot_id = :lot"), {"lot": lot.id})
        ).scalar_one()
    assert rows == 1


async def test_the_ledger_key_is_unique_across_months(db: AsyncSession) -> None:
    key = f"test-{uuid.uuid4()}"
    earlier = uuid_utils.compat.uuid7(nanoseconds=int((datetime.now(UTC) - timedelta(days=40)).timestamp()) * 10**9)
    insert = text("INSERT INTO ledger_entries (id, kind, idempotency_key) VALUES (:i, 'test', :k) RETURNING id")
    first = (await db.execute(insert, {"i": earlier, "k": key})).scalar_one_or_none()
    replay = (await db.execute(insert, {"i": new_id(), "k": key})).scalar_one_or_none()
    await db.rollback()
    assert first == earlier and replay is None


def test_the_ledger_is_kept_longer_and_zero_turns_detaching_off() -> None:
    from parking.settings import Settings

    kept = Settings(retention_months=24, ledger_retention_months=132).partition_retention
    assert kept == {
        "gate_events": 24,
        "parking_sessions": 24,
        "audit_log": 24,
        "ledger_entries": 132,
        "ledger_postings": 132,
    }
    assert Settings(retention_months=0, ledger_retention_months=132).partition_retention == {
        "ledger_entries": 132,
        "ledger_postings": 132,
    }
