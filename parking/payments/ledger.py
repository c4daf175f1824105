"""Moved to `parking.ledger.rules` (issue 9: the ledger is its own domain). This alias keeps code written
against the old path working until every branch is merged; new code imports `parking.ledger.rules`."""

from parking.ledger.rules import *  # noqa: F403
from parking.ledger.rules import __all__  # noqa: F401
