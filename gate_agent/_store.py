"""Durable local queue of gate events (SQLite in WAL mode).

An event is written here, and the write is synced to disk, BEFORE the barrier moves
and before the first send. After a crash the pending rows are resent with the same
event_id, so the server (which deduplicates on event_id) applies each event once.

Hand-written on purpose (a few dozen lines): the id-minting and fsync rules stay under
our tests, which persist-queue/litequeue would hide (style guide §2.6).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Any

from uuid_utils.compat import uuid7

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    plate_norm TEXT,
    body TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',   -- pending | acked | rejected
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT,
    response TEXT,
    local_action TEXT,                         -- what the lane did on its own while offline
    local_flags TEXT,
    created_at REAL NOT NULL,
    acked_at REAL
);
CREATE INDEX IF NOT EXISTS events_due ON events (status, next_attempt_at);
-- outcome_* columns are added by _migrate (queues created by older agents lack them).
CREATE INDEX IF NOT EXISTS events_plate ON events (plate_norm, kind, created_at);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


# outcome_status: NULL (nothing to report) | pending | sent | rejected
OUTCOME_COLUMNS = (
    ("outcome_status", "TEXT"),
    ("outcome_attempts", "INTEGER NOT NULL DEFAULT 0"),
    ("outcome_next_at", "REAL"),
    ("outcome_error", "TEXT"),
)


@dataclass(frozen=True)
class QueuedEvent:
    event_id: str
    body: dict[str, Any]
    status: str
    attempts: int
    last_error: str | None
    response: dict[str, Any] | None
    local_action: str | None
    local_flags: list[str]


def mint_event_id() -> str:
    # UUIDv7: time-ordered, so the server files the event in its month's partition by the id alone (issue 14.5).
    return str(uuid7())


class EventStore:
    """Thread-safe: one connection guarded by a lock (the agent has a few threads, low rate)."""

    def __init__(self, path: str) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL syncs the WAL on every commit: a committed event survives power loss.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """The offline outcome (what the lane did on its own) is a separate fact, sent after the event
        itself: the event body is never rewritten, so its server-side request hash never changes."""
        cols = {r[1] for r in self._db.execute("PRAGMA table_info(events)")}
        for name, decl in OUTCOME_COLUMNS:
            if name not in cols:
                self._db.execute(f"ALTER TABLE events ADD COLUMN {name} {decl}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writes ---------------------------------------------------------------------------

    def enqueue(self, body: dict[str, Any], plate_norm: str | None, cursor: tuple[str, int] | None = None) -> None:
        """Persist a new event; with ``cursor`` also record the source position in the same
        transaction, so a restart neither re-reads this vehicle nor skips the next one."""
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT INTO events (event_id, kind, plate_norm, body, next_attempt_at, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (body["event_id"], body["kind"], plate_norm, json.dumps(body), now, now),
                )
                if cursor is not None:
                    self._kv_set_locked(cursor[0], str(cursor[1]))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def mark_opened_offline(self, event_id: str, flags: list[str]) -> None:
        """The lane opened on its own. The event body stays as sent (the server may already hold it); the
        outcome is queued as its own report, sent once the event is acknowledged."""
        with self._lock:
            self._db.execute(
                "UPDATE events SET local_action = 'opened', local_flags = ?, outcome_status = 'pending',"
                " outcome_next_at = ? WHERE event_id = ?",
                (json.dumps(flags), time.time(), event_id),
            )

    def outcome_sent(self, event_id: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE events SET outcome_status = 'sent', outcome_attempts = outcome_attempts + 1,"
                " outcome_error = NULL WHERE event_id = ?",
                (event_id,),
            )

    def outcome_rejected(self, event_id: str, error: str) -> None:
        """Dead letter: the server refused the outcome for good; kept for an operator, never retried."""
        with self._lock:
            self._db.execute(
                "UPDATE events SET outcome_status = 'rejected', outcome_attempts = outcome_attempts + 1,"
                " outcome_error = ? WHERE event_id = ?",
                (error, event_id),
            )

    def outcome_retry_later(self, event_id: str, error: str, delay_s: float) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE events SET outcome_attempts = outcome_attempts + 1, outcome_error = ?, outcome_next_at = ?"
                " WHERE event_id = ? AND outcome_status = 'pending'",
                (error, time.time() + delay_s, event_id),
            )

    def mark_local(self, event_id: str, action: str, flags: list[str]) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE events SET local_action = ?, local_flags = ? WHERE event_id = ?",
                (action, json.dumps(flags), event_id),
            )

    def ack(self, event_id: str, response: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE events SET status = 'acked', response = ?, acked_at = ?, attempts = attempts + 1,"
                " last_error = NULL WHERE event_id = ?",
                (json.dumps(response), time.time(), event_id),
            )

    def reject(self, event_id: str, error: str) -> None:
        """A 4xx the server will never accept: kept (never deleted silently) for an operator."""
        with self._lock:
            self._db.execute(
                "UPDATE events SET status = 'rejected', last_error = ?, attempts = attempts + 1 WHERE event_id = ?",
                (error, event_id),
            )

    def retry_later(self, event_id: str, error: str, delay_s: float) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE events SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?"
                " WHERE event_id = ? AND status = 'pending'",
                (error, time.time() + delay_s, event_id),
            )

    def retry_all_now(self) -> None:
        """The link came back: do not wait out each event's backoff."""
        with self._lock:
            now = time.time()
            self._db.execute("UPDATE events SET next_attempt_at = ? WHERE status = 'pending'", (now,))
            self._db.execute("UPDATE events SET outcome_next_at = ? WHERE outcome_status = 'pending'", (now,))

    # -- reads ----------------------------------------------------------------------------

    def due(self, limit: int = 50) -> list[QueuedEvent]:
        with self._lock:
            rows = self._db.execute(
                "SELECT event_id, body, status, attempts, last_error, response, local_action, local_flags"
                " FROM events WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY seq LIMIT ?",
                (time.time(), limit),
            ).fetchall()
        return [_row(r) for r in rows]

    def due_outcomes(self, limit: int = 50) -> list[tuple[str, str, int, list[str]]]:
        """(event_id, local_action, attempts, local_flags) of acknowledged events whose outcome is due."""
        with self._lock:
            rows = self._db.execute(
                "SELECT event_id, local_action, outcome_attempts, local_flags FROM events"
                " WHERE status = 'acked' AND outcome_status = 'pending' AND outcome_next_at <= ? ORDER BY seq LIMIT ?",
                (time.time(), limit),
            ).fetchall()
        return [(r[0], r[1], int(r[2]), json.loads(r[3]) if r[3] else []) for r in rows]

    def stats(self) -> dict[str, int]:
        """Queue figures for the heartbeat: what waits, and what was refused for good (dead letters)."""
        with self._lock:
            r = self._db.execute(
                "SELECT"
                " coalesce(sum(status = 'pending'), 0),"
                " coalesce(sum(status = 'rejected'), 0) + coalesce(sum(outcome_status = 'rejected'), 0),"
                " coalesce(sum(outcome_status = 'pending' AND status != 'rejected'), 0)"
                " FROM events"
            ).fetchone()
        return {"queue_depth": int(r[0]), "dead_letters": int(r[1]), "outcomes_pending": int(r[2])}

    def outcome_status(self, event_id: str) -> str | None:
        with self._lock:
            r = self._db.execute("SELECT outcome_status FROM events WHERE event_id = ?", (event_id,)).fetchone()
        return None if r is None else r[0]

    def get(self, event_id: str) -> QueuedEvent | None:
        with self._lock:
            r = self._db.execute(
                "SELECT event_id, body, status, attempts, last_error, response, local_action, local_flags"
                " FROM events WHERE event_id = ?",
                (event_id,),
            ).fetchone()
        return _row(r) if r else None

    def all(self) -> list[QueuedEvent]:
        with self._lock:
            rows = self._db.execute(
                "SELECT event_id, body, status, attempts, last_error, response, local_action, local_flags"
                " FROM events ORDER BY seq"
            ).fetchall()
        return [_row(r) for r in rows]

    def depth(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM events WHERE status = 'pending'").fetchone()[0])

    def seen_recently(self, plate_norm: str, kind: str, window_s: float) -> bool:
        with self._lock:
            r = self._db.execute(
                "SELECT 1 FROM events WHERE plate_norm = ? AND kind = ? AND created_at >= ? LIMIT 1",
                (plate_norm, kind, time.time() - window_s),
            ).fetchone()
        return r is not None

    def kv_get(self, key: str) -> str | None:
        with self._lock:
            r = self._db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return None if r is None else str(r[0])

    def kv_set(self, key: str, value: str) -> None:
        with self._lock:
            self._kv_set_locked(key, value)

    def _kv_set_locked(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


def _row(r: tuple[Any, ...]) -> QueuedEvent:
    return QueuedEvent(
        event_id=r[0],
        body=json.loads(r[1]),
        status=r[2],
        attempts=int(r[3]),
        last_error=r[4],
        response=json.loads(r[5]) if r[5] else None,
        local_action=r[6],
        local_flags=json.loads(r[7]) if r[7] else [],
    )
