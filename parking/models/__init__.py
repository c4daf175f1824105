"""SQLAlchemy models: every table of the platform lives in a module of this package, one per table group.

Everything is imported here so that ``Base.metadata`` (Alembic's autogenerate, the drift test) is complete.
"""

from parking.models.alerts import Alert
from parking.models.audit import AuditLog
from parking.models.base import Base
from parking.models.drivers import Driver, DriverToken, DriverVehicle, PaymentMethod
from parking.models.invoices import Invoice, InvoiceBuyerProfile, InvoiceEvent, InvoiceSeries
from parking.models.ledger import LedgerEntry, LedgerPosting
from parking.models.operators import VEHICLE_CLASSES, Lane, Lot, LotCapacity, Operator
from parking.models.outbox import OutboxMessage
from parking.models.payments import Debt, MonthlyPass, Payment, PaymentIntent, PaymentNotification, Refund
from parking.models.sessions import GateEvent, GateEventImage, ParkingSession, Vehicle

__all__ = [
    "VEHICLE_CLASSES",
    "Alert",
    "AuditLog",
    "Base",
    "Debt",
    "Driver",
    "DriverToken",
    "DriverVehicle",
    "GateEvent",
    "GateEventImage",
    "Invoice",
    "InvoiceBuyerProfile",
    "InvoiceEvent",
    "InvoiceSeries",
    "Lane",
    "LedgerEntry",
    "LedgerPosting",
    "Lot",
    "LotCapacity",
    "MonthlyPass",
    "Operator",
    "OutboxMessage",
    "ParkingSession",
    "Payment",
    "PaymentIntent",
    "PaymentMethod",
    "PaymentNotification",
    "Refund",
    "Vehicle",
]
