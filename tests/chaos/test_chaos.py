"""A short seeded chaos run inside `make test` (the long soak is `make chaos`, see docs/reliability.md):
the real API, PostgreSQL, Redis, the bank simulator and two real gate agents, with kills, outages and a
broken lane link drawn from the seed. The gate promises must hold: nothing lost, doubled or stuck, one
open session per plate, occupancy counters equal to the open sessions, a balanced ledger, lanes online; and
the money promises: every transfer booked once, invoiced once for the fee."""

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
# One transfer is one payment, booked once, invoiced once for the fee, whatever the channels and the faults.
MONEY_INVARIANTS = (
    "sessions_paid_more_than_once",
    "money_difference_vnd",
    "sessions_invoiced_not_once",
    "invoice_total_not_fee",
)


def test_short_seeded_chaos_run_keeps_the_gate_promises(tmp_path: Path, db_url: str, redis_url: str) -> None:
    fig = run_one(seed=7, vehicles=8, workdir=tmp_path, db_url=db_url, redis_url=redis_url, fault_every_s=1.5)
    print(report(fig))
    assert fig.events_sent == 16 and fig.faults
    broken = {k: getattr(fig, k) for k in (*GATE_INVARIANTS, *MONEY_INVARIANTS) if getattr(fig, k)}
    assert broken == {}, report(fig)
    # The money path was exercised: drivers paid through the simulated bank and the API booked it.
    assert fig.notifications_posted > 0 and fig.paid_sessions > 0, report(fig)
