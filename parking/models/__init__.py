"""SQLAlchemy models. Import every module here so Alembic and the tests see the whole metadata."""

from parking.models.audit import AuditLog
from parking.models.base import Base
from parking.models.operators import VEHICLE_CLASSES, Lane, Lot, LotCapacity, Operator
from parking.models.outbox import OutboxMessage
from parking.models.sessions import GateEvent, GateEventImage, ParkingSession, Vehicle

__all__ = [
    "VEHICLE_CLASSES",
    "AuditLog",
    "Base",
    "GateEvent",
    "GateEventImage",
    "Lane",
    "Lot",
    "LotCapacity",
    "Operator",
    "OutboxMessage",
    "ParkingSession",
    "Vehicle",
]
