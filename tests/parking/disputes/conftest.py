"""Disputes need real payments: the payment-provider simulator fixtures, and the identity provider's."""

from tests.parking.drivers.conftest import idp  # noqa: F401
from tests.parking.payments.conftest import ledger_invariant, payment_sim_url, sim  # noqa: F401
