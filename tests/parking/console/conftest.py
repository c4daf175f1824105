"""The payments tests' provider simulator (for the console's refund flows) and their ledger invariant,
checked after every console test too (fee changes post journal entries)."""

from tests.payments.conftest import ledger_invariant, payment_sim_url, sim

__all__ = ["ledger_invariant", "payment_sim_url", "sim"]
