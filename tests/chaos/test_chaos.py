"""A short seeded chaos run inside `make test` (the long soak is `make chaos`, see docs/reliability.md):
the real API, PostgreSQL, Redis, the bank simulator and two real gate agents, with kills, outages and a
broken lane link drawn from the seed. The gate promises must hold: nothing lost, doubled or stuck, one
open session per plate, occupancy counters equal to the open sessions, a balanced ledger, lanes online."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.harness import report, run_one

pytestmark = pytest.mark.timeout(300)

GATE_INVARIANTS = (
    "events_duplicated",
    "events_lost",
    "events_stuck_unacknowledged",
    "outcomes_stuck",
    "dead_letters",
    "sessions_open_twice",
    "occupancy_pg_mismatch",
    "occupancy_redis_mismatch",
    "sessions_left_open",
    "exits_without_entry",
    "ledger_unbalanced_entries",
    "lanes_wrongly_offline",
)


def test_short_seeded_chaos_run_keeps_the_gate_promises(tmp_path: Path, db_url: str, redis_url: str) -> None:
    fig = run_one(seed=7, vehicles=8, workdir=tmp_path, db_url=db_url, redis_url=redis_url, fault_every_s=1.5)
    print(report(fig))
    assert fig.events_sent == 16 and fig.faults
    broken = {k: getattr(fig, k) for k in GATE_INVARIANTS if getattr(fig, k)}
    assert broken == {}, report(fig)
