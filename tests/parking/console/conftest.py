"""The payment provider simulator of the payments tests, for the console's refund-after-payment flow."""

from tests.payments.conftest import payment_sim_url, sim

__all__ = ["payment_sim_url", "sim"]
