"""Payments, VietQR intents, refunds, debts, monthly passes and provider notifications (migration 0002)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.naming import conv

from parking.models.base import Base, now_col, uuid_pk


class PaymentStatus(StrEnum):
    """payments.status (CHECK ck_payments_status)."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"


PAID_STATUSES = (PaymentStatus.CONFIRMED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED)


class IntentStatus(StrEnum):
    """payment_intents.status (CHECK ck_payment_intents_status)."""

    OPEN = "open"
    PAID = "paid"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class DebtStatus(StrEnum):
    """debts.status (CHECK ck_debts_status)."""

    OPEN = "open"
    PAID = "paid"
    WRITTEN_OFF = "written_off"


class RefundStatus(StrEnum):
    """refunds.status (CHECK ck_refunds_status, migration 0017)."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("provider", "provider_txn_id", name="uq_payments_provider_txn"),
        # One bank transfer is one payment, whichever notifier reported it (migration 0015).
        UniqueConstraint("bank_ref", name="uq_payments_bank_ref"),
        # The nightly reconciliation selects a day's payments and joins them to their intents (migration 0020).
        Index("ix_payments_confirmed_at", "confirmed_at"),
        Index("ix_payments_intent_id", "intent_id"),
    )
    id: Mapped[uuid.UUID] = uuid_pk()
    session_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("parking_sessions.id"), index=True)
    driver_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("drivers.id"), index=True)
    intent_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    purpose: Mapped[str] = mapped_column(String(16), default="session")
    amount_vnd: Mapped[int] = mapped_column(BigInteger)
    refunded_vnd: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(24))
    method: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str] = mapped_column(String(32))
    provider_txn_id: Mapped[str | None] = mapped_column(Text)  # the notifier's / provider's own id
    # The bank's reference of a transfer (SePay `referenceCode`, VNPAY `vnp_BankTranNo`): one transfer
    # reported by both notifiers is one payment (migration 0015).
    bank_ref: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    lane_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    lane_waiting: Mapped[bool] = mapped_column(default=False)
    failure_code: Mapped[str | None] = mapped_column(Text)
    flags: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    raw: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = now_col()


class PaymentIntent(Base):
    __tablename__ = "payment_intents"
    # At most one open session intent per session: a second exit read reuses the QR.
    __table_args__ = (
        Index(
            "uq_payment_intents_open_session",
            "session_id",
            unique=True,
            postgresql_where=text("status = 'open' AND purpose = 'session'"),
        ),
        Index("ix_payment_intents_created_at", "created_at"),  # reconciliation (migration 0020)
    )
    id: Mapped[uuid.UUID] = uuid_pk()
    session_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("parking_sessions.id"), index=True)
    debt_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    purpose: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str] = mapped_column(String(25), unique=True)
    amount_vnd: Mapped[int] = mapped_column(BigInteger)
    lane_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    qr_payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open")
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    paid_payment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payments.id"))
    created_at: Mapped[datetime] = now_col()


class Refund(Base):
    __tablename__ = "refunds"
    id: Mapped[uuid.UUID] = uuid_pk()
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id"), index=True)
    amount_vnd: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # Part of the refund that gives back money beyond the fee (a credit, never revenue): no adjustment invoice.
    credit_vnd: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    provider_refund_id: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = now_col()

    __table_args__ = (
        CheckConstraint(
            "status IN (" + ",".join(f"'{s.value}'" for s in RefundStatus) + ")", name=conv("ck_refunds_status")
        ),
    )


class Debt(Base):
    __tablename__ = "debts"
    id: Mapped[uuid.UUID] = uuid_pk()
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("parking_sessions.id"), unique=True)
    lot_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lots.id"))
    plate: Mapped[str | None] = mapped_column(String(16), index=True)
    driver_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("drivers.id"), index=True)
    amount_vnd: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="open")
    settled_payment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payments.id"))
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = now_col()


class MonthlyPass(Base):
    __tablename__ = "passes"
    __table_args__ = (Index("ix_passes_plate_lot", "plate", "lot_id", "valid_until"),)
    id: Mapped[uuid.UUID] = uuid_pk()
    driver_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("drivers.id"), index=True)
    plate: Mapped[str] = mapped_column(String(16))
    lot_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lots.id"))
    vehicle_class: Mapped[str] = mapped_column(String(16))
    band: Mapped[str] = mapped_column(String(8), default="all")
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    price_vnd: Mapped[int] = mapped_column(BigInteger)
    payment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payments.id"))
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = now_col()


class PaymentNotification(Base):
    __tablename__ = "payment_notifications"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    provider_txn_id: Mapped[str | None] = mapped_column(Text)
    verified: Mapped[bool] = mapped_column()
    outcome: Mapped[str] = mapped_column(String(32))
    payment_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[datetime] = now_col()
