"""SQLAlchemy models: every table of the platform lives in a module of this package, one per table group.

Everything is imported here so that ``Base.metadata`` (Alembic's autogenerate, the drift test) is complete.
"""

from parking.models.audit import AuditLog
from parking.models.base import Base
from parking.models.console import ALERT_KINDS, ConsoleAlert, LaneOverride
from parking.models.drivers import Driver, DriverToken, DriverVehicle, PaymentMethod
from parking.models.invoices import Invoice, InvoiceBuyerProfile, InvoiceEvent, InvoiceSeries
from parking.models.ledger import LedgerEntry, LedgerPosting
from parking.models.operators import VEHICLE_CLASSES, Lane, Lot, LotCapacity, Operator
from parking.models.outbox import OutboxMessage
from parking.models.payments import Debt, MonthlyPass, Payment, PaymentIntent, PaymentNotification, Refund
from parking.models.sessions import GateEvent, GateEventImage, ParkingSession, Vehicle
from parking.models.staff import STAFF_ROLES, StaffSession, StaffToken, StaffUser, StaffUserLot

__all__ = [
    "ALERT_KINDS",
    "STAFF_ROLES",
    "VEHICLE_CLASSES",
    "AuditLog",
    "Base",
    "ConsoleAlert",
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
    "LaneOverride",
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
    "StaffSession",
    "StaffToken",
    "StaffUser",
    "StaffUserLot",
    "Vehicle",
]
