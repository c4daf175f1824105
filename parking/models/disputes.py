"""Disputes of a session's fee and the drivers' ratings and problem reports about lots (migration 0042)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, SmallInteger, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from parking.models.base import Base, now_col, uuid_pk

DISPUTE_KINDS = ("wrong_plate", "wrong_time", "charged_twice", "other")
REPORT_KINDS = ("rating", "cash_requested", "shown_free_but_full", "barrier_broken", "other")


class Dispute(Base):
    __tablename__ = "disputes"
    id: Mapped[uuid.UUID] = uuid_pk()
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parking_sessions.id"))
    driver_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("drivers.id", ondelete="CASCADE"))
    lot_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lots.id"))
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    # What the operator reviews, frozen when the dispute is filed: the fee proof and the session's payments.
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16), default="open", server_default="open")
    decision_reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    refund_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("refunds.id"))
    refund_vnd: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = now_col()

    __table_args__ = (
        CheckConstraint("kind IN ('wrong_plate','wrong_time','charged_twice','other')", name="kind_known"),
        CheckConstraint("status IN ('open','refunded','rejected')", name="status_known"),
        CheckConstraint("refund_vnd IS NULL OR refund_vnd > 0", name="refund_positive"),
        # One open dispute per session and driver: a second filing adds nothing the first does not carry.
        Index("uq_disputes_open", "session_id", "driver_id", unique=True, postgresql_where=text("status = 'open'")),
        Index("ix_disputes_status_created", "status", "created_at"),
        Index("ix_disputes_lot_created", "lot_id", "created_at"),
        Index("ix_disputes_driver", "driver_id"),
    )


class LotReport(Base):
    """A rating (1-5 stars) or a problem report about a lot; problem reports reach the operator as alerts."""

    __tablename__ = "lot_reports"
    id: Mapped[uuid.UUID] = uuid_pk()
    lot_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lots.id"))
    driver_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("drivers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))
    stars: Mapped[int | None] = mapped_column(SmallInteger)
    comment: Mapped[str] = mapped_column(Text, default="", server_default="")
    status: Mapped[str] = mapped_column(String(16), default="new", server_default="new")
    acknowledged_by: Mapped[str | None] = mapped_column(Text)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = now_col()

    __table_args__ = (
        CheckConstraint(
            "kind IN ('rating','cash_requested','shown_free_but_full','barrier_broken','other')", name="kind_known"
        ),
        CheckConstraint("status IN ('new','acknowledged','closed')", name="status_known"),
        CheckConstraint("(kind = 'rating') = (stars IS NOT NULL)", name="stars_only_for_ratings"),
        CheckConstraint("stars IS NULL OR stars BETWEEN 1 AND 5", name="stars_range"),
        Index("ix_lot_reports_lot_created", "lot_id", "created_at"),
        Index("ix_lot_reports_new", "created_at", postgresql_where=text("status = 'new' AND kind <> 'rating'")),
    )
