"""The payments tests' provider simulator (for the console's refund flows) and their ledger invariant,
checked after every console test too (fee changes post journal entries); the admin approving plate claims;
the identity provider's simulator (drivers who dispute a session or report a problem)."""

from tests.parking.drivers.conftest import idp
from tests.parking.payments.conftest import claims_admin, ledger_invariant, payment_sim_url, sim

__all__ = ["claims_admin", "idp", "ledger_invariant", "payment_sim_url", "sim"]
