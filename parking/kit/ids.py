"""Time-ordered ids (UUIDv7) for the month-partitioned tables (issue 14.5).

``gate_events``, ``parking_sessions`` and ``ledger_entries`` are range-partitioned on their UUID primary key:
a UUIDv7 starts with its creation time in milliseconds, so the month's partition is the id's own range and the
primary key, the idempotency check and every foreign key stay single-column. Python 3.11 has no ``uuid.uuid7``;
``uuid_utils.compat`` returns a standard ``uuid.UUID`` (asyncpg and SQLAlchemy take it as is).
"""

from __future__ import annotations

import uuid

from uuid_utils.compat import uuid7 as _uuid7


def new_id() -> uuid.UUID:
    """A fresh UUIDv7 (millisecond time prefix, monotonic within the process)."""
    return _uuid7()
