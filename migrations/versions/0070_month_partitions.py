"""Month partitions for the tables that grow with the traffic (issue 14.5).

``gate_events``, ``parking_sessions``, ``ledger_entries`` and ``ledger_postings`` become ``PARTITION BY RANGE``
on their UUID key (UUIDv7: the id's first 48 bits are its creation time, so a month is an id range and the primary
keys, the event's idempotency and every foreign key stay single-column); ``audit_log`` on its ``at`` timestamp
(its primary key becomes ``(id, at)``; nothing references it). Each gets a DEFAULT partition, where ids that are
not UUIDv7 (rows written before this migration, an old lane agent's UUIDv4) live and keep working.

Two global unique rules cannot be a unique index on a partitioned table (it would have to include the key):
- "one open session per plate per lot" moves to ``open_sessions`` (small, unpartitioned, one row per open
  session), kept by a trigger on ``parking_sessions``; its unique index keeps the name
  ``uq_parking_sessions_open_plate``. The gate functions find the open session through it (one index probe,
  then the session by its id in one partition) instead of probing every month's index.
- the ledger's idempotency key moves to ``ledger_entry_keys``: a BEFORE INSERT trigger on ``ledger_entries``
  claims the key there (``ON CONFLICT DO NOTHING``) and skips the entry when the key is taken, which is what
  ``INSERT ... ON CONFLICT (idempotency_key) DO NOTHING`` did.

The conversion copies the rows (create the partitioned table, move the rows, drop the old one, recreate the
constraints, indexes, triggers and the foreign keys that point at it, under the same names). The gate functions of
0050/0051 are patched in place: sessions get ``uuidv7()`` ids, the open-session lookups go through
``open_sessions``. The scheduler creates the months ahead from then on (``parking.kit.partitions``).

Revision ID: 0070
Revises: 0060
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from zoneinfo import ZoneInfo

from alembic import op
from sqlalchemy import text

revision = "0070"
down_revision = "0080"
branch_labels = None
depends_on = None

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

# table -> (partition key column, its type, primary key columns once partitioned)
TABLES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "gate_events": ("id", "uuid", ("id",)),
    "parking_sessions": ("id", "uuid", ("id",)),
    "ledger_entries": ("id", "uuid", ("id",)),
    "ledger_postings": ("entry_id", "uuid", ("id", "entry_id")),
    "audit_log": ("at", "timestamptz", ("id", "at")),
}
ORIGINAL_PK = {t: ("id",) for t in TABLES}

OPEN_LOOKUP_OLD = "s.lot_id = p_lot_id AND s.plate = p_plate AND s.status = 'open'"
OPEN_LOOKUP_NEW = (
    "s.id = (SELECT o.session_id FROM open_sessions o WHERE o.lot_id = p_lot_id AND o.plate = p_plate) "
    "AND s.status = 'open'"
)
SESSION_ID_OLD = "session_id := gen_random_uuid();"
SESSION_ID_NEW = "session_id := uuidv7();"

OPEN_SESSIONS_TRIGGER = """
CREATE FUNCTION parking_sessions_track_open() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status = 'open' THEN
        IF TG_OP = 'UPDATE' AND NEW.status = 'open' AND NEW.lot_id = OLD.lot_id
           AND NEW.plate IS NOT DISTINCT FROM OLD.plate AND NEW.vehicle_class = OLD.vehicle_class THEN
            RETURN NULL;  -- still open, same key: nothing to do
        END IF;
        DELETE FROM open_sessions WHERE session_id = OLD.id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.status = 'open' THEN
        -- The unique index uq_parking_sessions_open_plate refuses a second open session of the plate in the lot.
        INSERT INTO open_sessions (session_id, lot_id, plate, vehicle_class)
        VALUES (NEW.id, NEW.lot_id, NEW.plate, NEW.vehicle_class);
    END IF;
    RETURN NULL;
END $$;
--
CREATE TRIGGER parking_sessions_track_open
    AFTER INSERT OR DELETE OR UPDATE OF status, lot_id, plate, vehicle_class ON parking_sessions
    FOR EACH ROW EXECUTE FUNCTION parking_sessions_track_open();
"""

LEDGER_KEY_TRIGGER = """
CREATE FUNCTION ledger_entries_claim_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- One entry per idempotency key across every month: the first writer claims the key, a replay (or a
    -- concurrent twin, which waits here for the first to commit) is skipped, as ON CONFLICT DO NOTHING did.
    INSERT INTO ledger_entry_keys (idempotency_key, entry_id) VALUES (NEW.idempotency_key, NEW.id)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END $$;
--
CREATE TRIGGER ledger_entries_claim_key BEFORE INSERT ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_claim_key();
"""


def _month_add(d: date, n: int) -> date:
    i = d.year * 12 + d.month - 1 + n
    return date(i // 12, i % 12 + 1, 1)


def _bounds(key_type: str, month: date) -> tuple[str, str]:
    lo = datetime(month.year, month.month, 1, tzinfo=VN_TZ)
    nxt = _month_add(month, 1)
    hi = datetime(nxt.year, nxt.month, 1, tzinfo=VN_TZ)
    if key_type == "uuid":  # the smallest UUIDv7 of the month's first millisecond (parking.kit.partitions)
        lo_id, hi_id = (uuid.UUID(int=int(x.timestamp() * 1000) << 80) for x in (lo, hi))
        return f"'{lo_id}'", f"'{hi_id}'"
    return f"'{lo.isoformat()}'", f"'{hi.isoformat()}'"


def _rows(sql: str, **params: object) -> list[tuple[object, ...]]:
    return [tuple(r) for r in op.get_bind().execute(text(sql), params).all()]


def _rebuild(table: str, partition: tuple[str, str] | None, pk: tuple[str, ...], months: list[date]) -> None:
    """Recreate ``table`` (partitioned on ``partition`` = (column, type), or plain when None) with its rows, its
    constraints, indexes, triggers and the foreign keys pointing at it, all under their names."""
    reg = {"t": f"public.{table}"}
    inbound = _rows(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype = 'f' AND confrelid = CAST(:t AS regclass) AND conrelid <> confrelid AND conparentid = 0",
        **reg,
    )
    own = _rows(
        "SELECT conname, contype::text, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = CAST(:t AS regclass) AND contype IN ('p', 'u', 'f') AND conparentid = 0",
        **reg,
    )
    indexes = _rows(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = CAST(:t AS regclass) "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid AND c.conrelid = x.indrelid)",
        **reg,
    )
    triggers = _rows(
        "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger "
        "WHERE tgrelid = CAST(:t AS regclass) AND NOT tgisinternal AND tgparentid = 0",
        **reg,
    )
    identity = _rows(
        "SELECT attname, attidentity::text FROM pg_attribute "
        "WHERE attrelid = CAST(:t AS regclass) AND attidentity <> ''",
        **reg,
    )
    for ref, name, _ in inbound:
        op.execute(f'ALTER TABLE {ref} DROP CONSTRAINT "{name}"')
    old = f"{table}__unpartitioned"
    op.execute(f'ALTER TABLE "{table}" RENAME TO "{old}"')
    clause = f" PARTITION BY RANGE ({partition[0]})" if partition else ""
    op.execute(
        f'CREATE TABLE "{table}" (LIKE "{old}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)' + clause
    )
    if partition:
        op.execute(f'CREATE TABLE "{table}_default" PARTITION OF "{table}" DEFAULT')
        for m in months:
            lo, hi = _bounds(partition[1], m)
            op.execute(
                f'CREATE TABLE "{table}_p{m.year:04d}{m.month:02d}" PARTITION OF "{table}" '
                f"FOR VALUES FROM ({lo}) TO ({hi})"
            )
    op.execute(f'INSERT INTO "{table}" SELECT * FROM "{old}"')
    op.execute(f'DROP TABLE "{old}"')
    for column, kind in identity:
        generated = "ALWAYS" if kind == "a" else "BY DEFAULT"
        op.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" ADD GENERATED {generated} AS IDENTITY')
        op.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
            f'coalesce((SELECT max("{column}") FROM "{table}"), 0) + 1, false)'
        )
    for name, kind, definition in own:
        if kind == "p":
            definition = f"PRIMARY KEY ({', '.join(pk)})"
        op.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
    for _, definition in indexes:
        op.execute(str(definition).replace(" ON ONLY ", " ON "))
    for _, definition in triggers:
        op.execute(str(definition))
    for ref, name, definition in inbound:
        op.execute(f'ALTER TABLE {ref} ADD CONSTRAINT "{name}" {definition}')


def _replace_in_function(fn: str, pairs: list[tuple[str, str]]) -> None:
    source = str(op.get_bind().execute(text(f"SELECT pg_get_functiondef('{fn}'::regproc)")).scalar_one())
    for old, new in pairs:
        if old not in source:
            raise RuntimeError(f"{fn}: expected text not found: {old!r}")
        source = source.replace(old, new)
    op.execute(source)


def upgrade() -> None:
    this_month = datetime.now(VN_TZ).date().replace(day=1)
    months = [_month_add(this_month, n) for n in range(-1, 4)]

    # The uniqueness that a partitioned table cannot hold, in small unpartitioned tables first.
    op.execute(
        """
        CREATE TABLE open_sessions (
            session_id uuid NOT NULL,
            lot_id uuid NOT NULL,
            plate varchar(16),
            vehicle_class varchar(16) NOT NULL,
            CONSTRAINT pk_open_sessions PRIMARY KEY (session_id),
            CONSTRAINT fk_open_sessions_lot_id_lots FOREIGN KEY (lot_id) REFERENCES lots (id)
        )
        """
    )
    op.execute("CREATE UNIQUE INDEX uq_open_sessions_lot_plate ON open_sessions (lot_id, plate)")
    op.execute(
        "INSERT INTO open_sessions (session_id, lot_id, plate, vehicle_class) "
        "SELECT id, lot_id, plate, vehicle_class FROM parking_sessions WHERE status = 'open'"
    )
    op.execute(
        """
        CREATE TABLE ledger_entry_keys (
            idempotency_key varchar(128) NOT NULL,
            entry_id uuid NOT NULL,
            CONSTRAINT pk_ledger_entry_keys PRIMARY KEY (idempotency_key)
        )
        """
    )
    op.execute(
        "INSERT INTO ledger_entry_keys (idempotency_key, entry_id) SELECT idempotency_key, id FROM ledger_entries"
    )
    op.execute("DROP INDEX uq_parking_sessions_open_plate")
    op.execute("ALTER INDEX uq_open_sessions_lot_plate RENAME TO uq_parking_sessions_open_plate")
    op.execute("ALTER TABLE ledger_entries DROP CONSTRAINT uq_ledger_entries_idempotency_key")
    op.execute("CREATE INDEX ix_ledger_entries_idempotency_key ON ledger_entries (idempotency_key)")

    oldest_audit = op.get_bind().execute(text("SELECT min(at) FROM audit_log")).scalar_one()
    for table, (column, key_type, pk) in TABLES.items():
        table_months = months
        if key_type == "timestamptz" and oldest_audit is not None:
            first = max(_month_add(this_month, -24), oldest_audit.astimezone(VN_TZ).date().replace(day=1))
            table_months = sorted({*months, *(_month_add(first, n) for n in range(_diff(first, this_month)))})
        _rebuild(table, (column, key_type), pk, table_months)

    # Per month, the open stays (tiny): the path of the "status = 'open'" queries without a lot (alerts, consoles)
    # that the partial unique index used to give.
    op.execute("CREATE INDEX ix_parking_sessions_open ON parking_sessions (lot_id, plate) WHERE status = 'open'")
    op.execute(
        "ALTER TABLE open_sessions ADD CONSTRAINT fk_open_sessions_session_id_parking_sessions "
        "FOREIGN KEY (session_id) REFERENCES parking_sessions (id) ON DELETE CASCADE"
    )
    for statement in (*OPEN_SESSIONS_TRIGGER.split("\n--\n"), *LEDGER_KEY_TRIGGER.split("\n--\n")):
        op.execute(statement)
    op.execute(
        "CREATE TRIGGER ledger_entry_keys_append_only BEFORE UPDATE OR DELETE ON ledger_entry_keys "
        "FOR EACH ROW EXECUTE FUNCTION forbid_change()"
    )
    _replace_in_function("gate_entry", [(OPEN_LOOKUP_OLD, OPEN_LOOKUP_NEW), (SESSION_ID_OLD, SESSION_ID_NEW)])
    _replace_in_function("gate_exit_begin", [(OPEN_LOOKUP_OLD, OPEN_LOOKUP_NEW)])


def _diff(a: date, b: date) -> int:
    return (b.year - a.year) * 12 + b.month - a.month


def downgrade() -> None:
    _replace_in_function("gate_exit_begin", [(OPEN_LOOKUP_NEW, OPEN_LOOKUP_OLD)])
    _replace_in_function("gate_entry", [(OPEN_LOOKUP_NEW, OPEN_LOOKUP_OLD), (SESSION_ID_NEW, SESSION_ID_OLD)])
    op.execute("DROP TRIGGER ledger_entries_claim_key ON ledger_entries")
    op.execute("DROP FUNCTION ledger_entries_claim_key()")
    op.execute("DROP TRIGGER parking_sessions_track_open ON parking_sessions")
    op.execute("DROP FUNCTION parking_sessions_track_open()")
    op.execute("ALTER TABLE open_sessions DROP CONSTRAINT fk_open_sessions_session_id_parking_sessions")
    op.execute("DROP INDEX ix_parking_sessions_open")
    for table in reversed(TABLES):
        _rebuild(table, None, ORIGINAL_PK[table], [])
    op.execute("DROP INDEX ix_ledger_entries_idempotency_key")
    op.execute("ALTER TABLE ledger_entries ADD CONSTRAINT uq_ledger_entries_idempotency_key UNIQUE (idempotency_key)")
    op.execute("DROP TABLE ledger_entry_keys")
    op.execute("DROP TABLE open_sessions")
    op.execute(
        "CREATE UNIQUE INDEX uq_parking_sessions_open_plate ON parking_sessions (lot_id, plate) WHERE status = 'open'"
    )
