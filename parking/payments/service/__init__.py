"""Payment rules, one module per sub-concept; every function runs in the caller's transaction and never commits.

  common    outbox topics, idempotency keys, the lane's texts
  confirm   confirmation shared by every path (book it, clear what the session owes, call the hooks)
  exit      the exit decision                  linked   linked-account charges (exit, background, debts)
  qr        VietQR payment requests             credits  bank/gateway notifications (one transfer, one payment)
  debts     unpaid exits become debts           refunds  refunds (credit first), sent through the outbox

Money facts go to the ledger (`parking.ledger`), each with an idempotency key, so replays are harmless.
The names below are the package's public surface (`from parking.payments import service`).
"""

from parking.ledger.service import ledger_check
from parking.payments.service.common import (
    PAY,
    THANKS,
    TOPIC_CHARGE,
    TOPIC_LANE_OPEN,
    TOPIC_REFUND,
    WAIT,
    ExitAnswer,
    PendingCharge,
    exit_key,
    fmt_vnd,
)
from parking.payments.service.confirm import Confirmed, confirm
from parking.payments.service.credits import CreditOutcome, handle_credit, log_rejected
from parking.payments.service.debts import open_debts_for_plate, record_debt
from parking.payments.service.exit import exit_decision
from parking.payments.service.linked import background_charge, charge_linked, pay_debt_linked, record_linked_outcome
from parking.payments.service.qr import create_intent, expire_intents, intent_view
from parking.payments.service.refunds import execute_refund, refund

__all__ = [
    "PAY",
    "THANKS",
    "TOPIC_CHARGE",
    "TOPIC_LANE_OPEN",
    "TOPIC_REFUND",
    "WAIT",
    "Confirmed",
    "CreditOutcome",
    "ExitAnswer",
    "PendingCharge",
    "background_charge",
    "charge_linked",
    "confirm",
    "create_intent",
    "execute_refund",
    "exit_decision",
    "exit_key",
    "expire_intents",
    "fmt_vnd",
    "handle_credit",
    "intent_view",
    "ledger_check",
    "log_rejected",
    "open_debts_for_plate",
    "pay_debt_linked",
    "record_debt",
    "record_linked_outcome",
    "refund",
]
