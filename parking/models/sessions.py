"""Vehicles, gate events (append-only, keyed by the device-minted id) and parking sessions."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from parking.models.base import Base, now_col, uuid7_pk, uuid_pk

# Month partitions (issue 14.5, migration 0070): these tables are PARTITION BY RANGE on their UUIDv7 id; the
# partitions themselves are created by parking.kit.partitions and are not declared here.
_BY_ID = {"postgresql_partition_by": "RANGE (id)"}


class SessionStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class ReviewStatus(StrEnum):
    NONE = "none"
    PENDING = "pending"
    RESOLVED = "resolved"


def _values(enum: type[StrEnum]) -> str:
    return ",".join(f"'{v.value}'" for v in enum)


class Vehicle(Base):
    __tablename__ = "vehicles"
    id: Mapped[uuid.UUID] = uuid_pk()
    plate: Mapped[str] = mapped_column(String(16), unique=True)  # normalised A-Z0-9
    vehicle_class: Mapped[str] = mapped_column(String(16))
    first_seen_at: Mapped[datetime] = now_col()


class GateEvent(Base):
    __tablename__ = "gate_events"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)  # minted by the device
    lane_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lanes.id"), index=True)
    lot_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lots.id"))
    kind: Mapped[str] = mapped_column(String(8))
    plate_read: Mapped[str | None] = mapped_column(String(32))
    plate: Mapped[str | None] = mapped_column(String(16))
    confidence: Mapped[float] = mapped_column(Float)
    vehicle_class: Mapped[str] = mapped_column(String(16))
    captured_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    offline_action: Mapped[str | None] = mapped_column(String(16))
    # Hash of the request body: the same id with a different body is a device bug, refused with 409.
    request_hash: Mapped[str] = mapped_column(String(64))
    session_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    decision: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    has_image: Mapped[bool] = mapped_column(default=False)

    __table_args__ = (
        CheckConstraint("kind IN ('entry','exit')", name="kind_known"),
        CheckConstraint("confidence >= 0 AND confidence <= 1", name="confidence_range"),
        Index("ix_gate_events_lot_captured", "lot_id", "captured_at"),
        _BY_ID,
    )


class GateEventImage(Base):
    __tablename__ = "gate_event_images"
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("gate_events.id", ondelete="CASCADE"), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(32), default="image/jpeg")
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ParkingSession(Base):
    __tablename__ = "parking_sessions"
    id: Mapped[uuid.UUID] = uuid7_pk()
    lot_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lots.id"))
    vehicle_class: Mapped[str] = mapped_column(String(16))
    plate: Mapped[str | None] = mapped_column(String(16))  # as matched at entry (normalised)
    exit_plate: Mapped[str | None] = mapped_column(String(16))  # as read at exit, when it differs
    status: Mapped[str] = mapped_column(String(8))  # open | closed
    entry_event_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("gate_events.id"))
    exit_event_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("gate_events.id"))
    entry_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # NULL: unknown entry
    exit_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    flags: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list, server_default="{}")
    review_status: Mapped[str] = mapped_column(String(16), default="none", server_default="none")
    review_reason: Mapped[str | None] = mapped_column(Text)
    fee_vnd: Mapped[int | None] = mapped_column(BigInteger)
    fee_lines: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    tariff_id: Mapped[str | None] = mapped_column(String(64))
    tariff_version: Mapped[str | None] = mapped_column(String(64))
    payment_status: Mapped[str] = mapped_column(String(16), default="none", server_default="none")
    created_at: Mapped[datetime] = now_col()
    updated_at: Mapped[datetime] = now_col()

    __table_args__ = (
        CheckConstraint(f"status IN ({_values(SessionStatus)})", name="status_known"),
        CheckConstraint("fee_vnd IS NULL OR fee_vnd >= 0", name="fee_nonnegative"),
        CheckConstraint(f"review_status IN ({_values(ReviewStatus)})", name="review_status_known"),
        Index("ix_parking_sessions_lot_status", "lot_id", "status"),
        Index("ix_parking_sessions_exit_at", "exit_at"),
        Index("ix_parking_sessions_review", "review_status", postgresql_where=text("review_status = 'pending'")),
        # The open stays of each month, small: what the consoles' and alerts' "status = 'open'" queries read
        # (the global unique rule itself is uq_parking_sessions_open_plate on open_sessions).
        Index("ix_parking_sessions_open", "lot_id", "plate", postgresql_where=text("status = 'open'")),
        _BY_ID,
    )


class OpenSession(Base):
    """The open sessions, one row each, kept by the trigger ``parking_sessions_track_open`` (migration 0070).

    A partitioned table cannot hold a unique index that leaves out its partition key, so the rule "at most one
    open session per plate per lot" lives here, enforced by the database as before (same index name). It is also
    the gate's way in: the exit finds the plate's open session here, then reads it by id in one partition.
    """

    __tablename__ = "open_sessions"
    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("parking_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    lot_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lots.id"))
    plate: Mapped[str | None] = mapped_column(String(16))
    vehicle_class: Mapped[str] = mapped_column(String(16))

    __table_args__ = (Index("uq_parking_sessions_open_plate", "lot_id", "plate", unique=True),)
