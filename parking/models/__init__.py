"""SQLAlchemy models: every table of the platform lives in a module of this package, one per table group.

Everything is imported here so that ``Base.metadata`` (Alembic's autogenerate, the drift test) is complete.
"""

from parking.models.alerts import Alert
from parking.models.audit import AuditLog
from parking.models.base import Base
from parking.models.drivers import Driver, DriverToken, DriverVehicle, PaymentMethod
from parking.models.invoices import (
    Invoice,
    InvoiceBuyerProfile,
    InvoiceEvent,
    InvoiceEventStatus,
    InvoiceSeries,
    InvoiceStatus,
)
from parking.models.ledger import LedgerEntry, LedgerPosting
from parking.models.operators import VEHICLE_CLASSES, Lane, Lot, LotCapacity, Operator
from parking.models.outbox import OutboxMessage, OutboxStatus
from parking.models.payments import (
    PAID_STATUSES,
    Debt,
    DebtStatus,
    IntentStatus,
    MonthlyPass,
    Payment,
    PaymentIntent,
    PaymentNotification,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from parking.models.sessions import GateEvent, GateEventImage, ParkingSession, Vehicle

__all__ = [
    "PAID_STATUSES",
    "VEHICLE_CLASSES",
    "Alert",
    "AuditLog",
    "Base",
    "Debt",
    "DebtStatus",
    "Driver",
    "DriverToken",
    "DriverVehicle",
    "GateEvent",
    "GateEventImage",
    "IntentStatus",
    "Invoice",
    "InvoiceBuyerProfile",
    "InvoiceEvent",
    "InvoiceEventStatus",
    "InvoiceSeries",
    "InvoiceStatus",
    "Lane",
    "LedgerEntry",
    "LedgerPosting",
    "Lot",
    "LotCapacity",
    "MonthlyPass",
    "Operator",
    "OutboxMessage",
    "OutboxStatus",
    "ParkingSession",
    "Payment",
    "PaymentIntent",
    "PaymentMethod",
    "PaymentNotification",
    "PaymentStatus",
    "Refund",
    "RefundStatus",
    "Vehicle",
]
