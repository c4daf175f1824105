"""Migration 0070 converts the growing tables to month partitions with their rows, and back (issue 14.5)."""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from parking.settings import REPO_ROOT

SEED = """
INSERT INTO operators (id, code, name, address, tax_code, invoice_symbol_letters)
VALUES (:op, 'MIG', 'Migration test', 'Hà Nội', '0100000000', 'MT');
INSERT INTO lots (id, operator_id, code, name, address, latitude, longitude, tariff_id, tariff_zone, timezone)
VALUES (:lot, :op, 'MIG-1', 'Lot', 'Hà Nội', 21.03, 105.85, 'hanoi-44-2017', 'urban', 'Asia/Ho_Chi_Minh');
INSERT INTO lanes (id, lot_id, code, direction, vehicle_class, credential_hash, enabled)
VALUES (:lane, :lot, 'E1', 'entry', 'car_small', 'x', true);
INSERT INTO gate_events (id, lane_id, lot_id, kind, confidence, vehicle_class, captured_at, request_hash, has_image)
VALUES (:e1, :lane, :lot, 'entry', 0.9, 'car_small', now(), 'h1', false),
       (:e2, :lane, :lot, 'entry', 0.9, 'car_small', now(), 'h2', false);
INSERT INTO parking_sessions (id, lot_id, vehicle_class, plate, status, entry_event_id)
VALUES (:s1, :lot, 'car_small', '30A11111', 'open', :e1), (:s2, :lot, 'car_small', '30A22222', 'closed', :e2);
INSERT INTO ledger_entries (id, kind, idempotency_key) VALUES (:le, 'test', 'mig-key');
INSERT INTO ledger_postings (entry_id, account, amount_vnd) VALUES (:le, 'a', 100), (:le, 'b', -100);
INSERT INTO audit_log (actor, action, entity, entity_id, data) VALUES ('t', 'seed', 'x', '1', '{}');
"""
COUNTS = ("gate_events", "parking_sessions", "ledger_entries", "ledger_postings", "audit_log")


def _alembic(url: str, action: str, target: str) -> None:
    cfg = Config(str(REPO_ROOT / "alembic.ini"))
    cfg.attributes["url"] = url
    getattr(command, action)(cfg, target)


async def _sql(url: str, sql: str, params: dict[str, Any] | None = None, autocommit: bool = False) -> list[Any]:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT") if autocommit else create_async_engine(url)
    try:
        async with engine.begin() as conn:
            out: list[Any] = []
            for statement in filter(str.strip, sql.split(";")):
                result = await conn.execute(
                    text(statement), {k: v for k, v in (params or {}).items() if f":{k}" in statement}
                )
                out = list(result.all()) if result.returns_rows else out
            return out
    finally:
        await engine.dispose()


def test_0070_moves_the_rows_into_partitions_and_back(db_url: str) -> None:
    name = f"parking_mig_{os.getpid()}"
    asyncio.run(_sql(db_url, f'DROP DATABASE IF EXISTS "{name}"; CREATE DATABASE "{name}"', autocommit=True))
    url = make_url(db_url).set(database=name).render_as_string(hide_password=False)
    ids = {k: uuid.uuid4() for k in ("op", "lot", "lane", "e1", "e2", "s1", "s2", "le")}
    try:
        _alembic(url, "upgrade", "0060")
        asyncio.run(_sql(url, SEED, ids))
        _alembic(url, "upgrade", "0070")
        counts = asyncio.run(_sql(url, " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in COUNTS)))
        assert dict(counts) == {
            "gate_events": 2,
            "parking_sessions": 2,
            "ledger_entries": 1,
            "ledger_postings": 2,
            "audit_log": 1,
        }
        # UUIDv4 rows written before the migration live in the DEFAULT partitions and keep every link.
        where = asyncio.run(_sql(url, "SELECT tableoid::regclass::text FROM gate_events WHERE id = :e1", ids))
        assert where == [("gate_events_default",)]
        assert asyncio.run(_sql(url, "SELECT session_id, plate FROM open_sessions")) == [(ids["s1"], "30A11111")]
        assert asyncio.run(_sql(url, "SELECT idempotency_key, entry_id FROM ledger_entry_keys")) == [
            ("mig-key", ids["le"])
        ]
        _alembic(url, "downgrade", "0060")
        counts = asyncio.run(_sql(url, " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in COUNTS)))
        assert dict(counts)["gate_events"] == 2 and dict(counts)["ledger_postings"] == 2
        plain = asyncio.run(_sql(url, "SELECT count(*) FROM pg_partitioned_table"))
        assert plain == [(0,)]
        index = asyncio.run(
            _sql(url, "SELECT indexdef FROM pg_indexes WHERE indexname = 'uq_parking_sessions_open_plate'")
        )
        assert "WHERE" in index[0][0] and "parking_sessions" in index[0][0]
        _alembic(url, "upgrade", "head")
    finally:
        asyncio.run(_sql(db_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', autocommit=True))
