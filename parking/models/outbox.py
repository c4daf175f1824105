"""Transactional outbox: side effects are rows written in the same transaction as the state change."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Identity, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.naming import conv

from parking.models.base import Base, now_col


class OutboxStatus(StrEnum):
    """Where a message is, derived from its columns (CHECK ck_outbox_processed_or_dead, migration 0017)."""

    PENDING = "pending"  # processed_at IS NULL AND NOT dead: the worker will deliver it
    PROCESSED = "processed"  # processed_at IS NOT NULL
    DEAD = "dead"  # gave up after MAX_ATTEMPTS failures: needs a person (or the repair job)


class OutboxMessage(Base):
    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    topic: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(200), unique=True)  # idempotency key: enqueueing twice is a no-op
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = now_col()
    available_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    dead: Mapped[bool] = mapped_column(default=False, server_default="false")

    __table_args__ = (
        Index("ix_outbox_pending", "available_at", postgresql_where=text("processed_at IS NULL AND NOT dead")),
        CheckConstraint("processed_at IS NULL OR NOT dead", name=conv("ck_outbox_processed_or_dead")),
    )

    @property
    def status(self) -> OutboxStatus:
        if self.processed_at is not None:
            return OutboxStatus.PROCESSED
        return OutboxStatus.DEAD if self.dead else OutboxStatus.PENDING
