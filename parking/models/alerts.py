"""Alerts: conditions a person must act on (e.g. an operator without a signing certificate), raised by the
system, one open alert per kind and subject, resolved when the condition clears (migration 0016)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Identity, Index, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from parking.models.base import Base, now_col


class Alert(Base):
    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))  # e.g. invoice.signing_certificate_missing
    subject: Mapped[str] = mapped_column(String(200))  # what it is about, e.g. the operator's code
    message: Mapped[str] = mapped_column(Text)  # Vietnamese first, for the operator
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    raised_at: Mapped[datetime] = now_col()
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("uq_alerts_open", "kind", "subject", unique=True, postgresql_where=text("resolved_at IS NULL")),
    )
