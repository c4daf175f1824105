"""SQLAlchemy models: every table of the platform lives in a module of this package, one per table group.

Everything is imported here so that ``Base.metadata`` (Alembic's autogenerate, the drift test) is complete;
status vocabularies (StrEnums mirrored by CHECK constraints) are exported beside their tables.
"""

from parking.models.alerts import Alert
from parking.models.audit import AuditLog
from parking.models.base import Base
from parking.models.city import CityClient, CityWebhook, CityWebhookDelivery
from parking.models.console import ALERT_KINDS, ConsoleAlert, LaneOverride
from parking.models.disputes import Dispute, LotReport
from parking.models.drivers import Driver, DriverToken, DriverVehicle, PaymentMethod, VehicleClaim
from parking.models.invoices import (
    Invoice,
    InvoiceBuyerProfile,
    InvoiceEvent,
    InvoiceEventStatus,
    InvoiceSeries,
    InvoiceStatus,
)
from parking.models.ledger import LedgerEntry, LedgerEntryKey, LedgerPosting
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
from parking.models.reconciliation import (
    Discrepancy,
    DiscrepancyResolution,
    HealingStep,
    ReconFile,
    ReconMatch,
    ReconRun,
    RefundProposal,
    SettlementBatch,
    SettlementLine,
    StatementLine,
)
from parking.models.sessions import (
    GateEvent,
    GateEventImage,
    OpenSession,
    ParkingSession,
    ReviewStatus,
    SessionStatus,
    Vehicle,
)
from parking.models.staff import STAFF_ROLES, StaffSession, StaffToken, StaffUser, StaffUserLot

__all__ = [
    "ALERT_KINDS",
    "PAID_STATUSES",
    "STAFF_ROLES",
    "VEHICLE_CLASSES",
    "Alert",
    "AuditLog",
    "Base",
    "CityClient",
    "CityWebhook",
    "CityWebhookDelivery",
    "ConsoleAlert",
    "Debt",
    "DebtStatus",
    "Discrepancy",
    "DiscrepancyResolution",
    "Dispute",
    "Driver",
    "DriverToken",
    "DriverVehicle",
    "GateEvent",
    "GateEventImage",
    "HealingStep",
    "IntentStatus",
    "Invoice",
    "InvoiceBuyerProfile",
    "InvoiceEvent",
    "InvoiceEventStatus",
    "InvoiceSeries",
    "InvoiceStatus",
    "Lane",
    "LaneOverride",
    "LedgerEntry",
    "LedgerEntryKey",
    "LedgerPosting",
    "Lot",
    "LotCapacity",
    "LotReport",
    "MonthlyPass",
    "OpenSession",
    "Operator",
    "OutboxMessage",
    "OutboxStatus",
    "ParkingSession",
    "Payment",
    "PaymentIntent",
    "PaymentMethod",
    "PaymentNotification",
    "PaymentStatus",
    "ReconFile",
    "ReconMatch",
    "ReconRun",
    "Refund",
    "RefundProposal",
    "RefundStatus",
    "ReviewStatus",
    "SessionStatus",
    "SettlementBatch",
    "SettlementLine",
    "StaffSession",
    "StaffToken",
    "StaffUser",
    "StaffUserLot",
    "StatementLine",
    "Vehicle",
    "VehicleClaim",
]
