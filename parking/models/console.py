"""Operator console: alerts (each acknowledged by a person) and manual barrier overrides (who/when/why)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, LargeBinary, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from parking.models.base import Base, now_col, uuid_pk

ALERT_KINDS = (
    "lot_nearly_full",
    "lot_full",
    "lane_offline",
    "queue_backing_up",
    "overstay",
    "unpaid_exit",
    "debt_at_entry",
    "outbox_dead",
    "einvoice_rejected",
    "einvoice_no_certificate",
    "reconciliation_discrepancy",
    "lot_report",
)


class ConsoleAlert(Base):
    __tablename__ = "console_alerts"
    id: Mapped[uuid.UUID] = uuid_pk()
    operator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("operators.id"), index=True)
    lot_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("lots.id"))
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(8))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    # One open alert per condition (e.g. "lane_offline:<lane id>"); after acknowledgement a new one may open.
    dedupe_key: Mapped[str] = mapped_column(String(200))
    raised_at: Mapped[datetime] = now_col()
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_by: Mapped[str | None] = mapped_column(Text)
    ack_note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint("severity IN ('info','warning','critical')", name="severity_known"),
        Index(
            "uq_console_alerts_open_dedupe",
            "dedupe_key",
            unique=True,
            postgresql_where=text("acknowledged_at IS NULL"),
        ),
    )


class LaneOverride(Base):
    __tablename__ = "lane_overrides"
    id: Mapped[uuid.UUID] = uuid_pk()
    lane_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lanes.id"), index=True)
    lot_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lots.id"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_users.id"))
    actor: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    photo: Mapped[bytes | None] = mapped_column(LargeBinary)
    photo_type: Mapped[str | None] = mapped_column(String(32))
    at: Mapped[datetime] = now_col()

    __table_args__ = (CheckConstraint("length(reason) >= 3", name="reason_given"),)
