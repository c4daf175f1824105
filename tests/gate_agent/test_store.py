from __future__ import annotations

import sqlite3
from pathlib import Path

from gate_agent._store import EventStore, mint_event_id


def _body(kind: str = "entry", plate: str = "30A-123.45") -> dict[str, object]:
    return {
        "event_id": mint_event_id(),
        "kind": kind,
        "plate": plate,
        "confidence": 0.9,
        "captured_at": "2026-11-22T01:00:00+00:00",
        "offline_action": None,
    }


def test_queue_is_wal_and_survives_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "q.sqlite")
    s = EventStore(path)
    b1, b2 = _body(), _body(plate="30A-999.99")
    s.enqueue(b1, "30A12345", ("cursor:x", 4))
    s.enqueue(b2, "30A99999")
    s.ack(b2["event_id"], {"action": "open"})  # type: ignore[arg-type]
    s.close()
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    s = EventStore(path)
    assert [e.event_id for e in s.due()] == [b1["event_id"]]
    assert s.depth() == 1
    assert s.kv_get("cursor:x") == "4"
    acked = s.get(b2["event_id"])  # type: ignore[arg-type]
    assert acked is not None and acked.status == "acked" and acked.response == {"action": "open"}


def test_reject_keeps_the_event_and_stops_retrying(tmp_path: Path) -> None:
    s = EventStore(str(tmp_path / "q.sqlite"))
    b = _body()
    s.enqueue(b, "30A12345")
    s.reject(b["event_id"], "422 plate_invalid: nope")  # type: ignore[arg-type]
    assert s.due() == [] and s.depth() == 0
    ev = s.get(b["event_id"])  # type: ignore[arg-type]
    assert ev is not None and ev.status == "rejected" and "plate_invalid" in (ev.last_error or "")


def test_retry_later_then_retry_all_now(tmp_path: Path) -> None:
    s = EventStore(str(tmp_path / "q.sqlite"))
    b = _body()
    s.enqueue(b, "30A12345")
    s.retry_later(b["event_id"], "ConnectError", 3600)  # type: ignore[arg-type]
    assert s.due() == [] and s.depth() == 1
    s.retry_all_now()
    (ev,) = s.due()
    assert ev.attempts == 1 and ev.last_error == "ConnectError"


def test_opened_offline_keeps_the_body_and_queues_the_outcome_after_the_ack(tmp_path: Path) -> None:
    s = EventStore(str(tmp_path / "q.sqlite"))
    b = _body("exit")
    s.enqueue(b, "30A12345")
    s.mark_opened_offline(b["event_id"], ["offline", "charge_later"])  # type: ignore[arg-type]
    (ev,) = s.due()
    assert ev.event_id == b["event_id"] and ev.body == b  # never rewritten: its request hash is its identity
    assert ev.local_action == "opened" and ev.local_flags == ["offline", "charge_later"]
    assert s.due_outcomes() == []  # the server must hold the event before its outcome
    s.ack(b["event_id"], {"action": "pay"})  # type: ignore[arg-type]
    assert s.due_outcomes() == [(b["event_id"], "opened", 0, ["offline", "charge_later"])]
    assert s.stats() == {"queue_depth": 0, "dead_letters": 0, "outcomes_pending": 1}
    s.outcome_rejected(b["event_id"], "404 event_not_found")  # type: ignore[arg-type]
    assert s.due_outcomes() == [] and s.stats()["dead_letters"] == 1


def test_a_queue_of_an_older_agent_gains_the_outcome_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,"
        " plate_norm TEXT, body TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL"
        " DEFAULT 0, next_attempt_at REAL NOT NULL, last_error TEXT, response TEXT, local_action TEXT, local_flags"
        " TEXT, created_at REAL NOT NULL, acked_at REAL);"
    )
    old.close()
    s = EventStore(str(path))
    b = _body()
    s.enqueue(b, "30A12345")
    s.mark_opened_offline(b["event_id"], [])  # type: ignore[arg-type]
    assert s.stats()["outcomes_pending"] == 1


def test_seen_recently_is_per_plate_and_kind(tmp_path: Path) -> None:
    s = EventStore(str(tmp_path / "q.sqlite"))
    s.enqueue(_body("entry"), "30A12345")
    assert s.seen_recently("30A12345", "entry", 60)
    assert not s.seen_recently("30A12345", "exit", 60)
    assert not s.seen_recently("30A99999", "entry", 60)
