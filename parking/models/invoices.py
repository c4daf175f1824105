"""Invoice series, invoices, invoice events and buyer profiles (migration 0003)."""

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
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.naming import conv

from parking.models.base import Base, now_col, uuid_pk

KINDS = ("original", "adjustment", "replacement")


class InvoiceStatus(StrEnum):
    """invoices.status (CHECK ck_invoices_status): issued -> sent -> accepted | rejected."""

    ISSUED = "issued"
    SENT = "sent"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class InvoiceEventStatus(StrEnum):
    """invoice_events.status (CHECK ck_invoice_events_status, migration 0017): the invoice's statuses, and
    `waiting` (for the operator's signing certificate)."""

    ISSUED = "issued"
    SENT = "sent"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    WAITING = "waiting"


STATUSES = tuple(InvoiceStatus)


class InvoiceSeries(Base):
    """One counter per operator and year: ``next_seq`` is the next 11-digit number to hand out.

    Numbers are taken with ``UPDATE ... SET next_seq = next_seq + 1 RETURNING`` in the payment's own
    transaction: the row lock orders concurrent payments and a rollback returns the number, so a
    series has neither gaps nor duplicates.
    """

    __tablename__ = "invoice_series"
    __table_args__ = (
        UniqueConstraint("operator_id", "year", name="uq_invoice_series_operator_year"),
        UniqueConstraint("series_code", "year", "template", name="uq_invoice_series_code_year"),
    )
    id: Mapped[uuid.UUID] = uuid_pk()
    operator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("operators.id"))
    year: Mapped[int] = mapped_column(SmallInteger)
    template: Mapped[int] = mapped_column(SmallInteger)  # KHMSHDon
    symbol: Mapped[str] = mapped_column(String(6))  # KHHDon, e.g. C26MAA
    series_code: Mapped[str] = mapped_column(String(5))  # the 5 characters issued by the tax authority
    next_seq: Mapped[int] = mapped_column(BigInteger, default=1)
    created_at: Mapped[datetime] = now_col()


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("series_id", "seq", name="uq_invoices_series_seq"),
        # One original invoice per payment, one replacement per replaced invoice.
        Index("uq_invoices_original_payment", "payment_id", unique=True, postgresql_where=text("kind = 'original'")),
        Index(
            "uq_invoices_one_replacement",
            "related_invoice_id",
            unique=True,
            postgresql_where=text("kind = 'replacement'"),
        ),
        Index("ix_invoices_issued_at", "issued_at"),
        Index("ix_invoices_driver", "driver_id", "issued_at"),
        Index("ix_invoices_session", "session_id"),
        Index("ix_invoices_pending", "status", postgresql_where=text("status IN ('issued','sent')")),
        # A session's sale is invoiced once, for its fee, whichever payments paid it (migration 0015).
        Index(
            "uq_invoices_one_original_per_session",
            "session_id",
            unique=True,
            postgresql_where=text("kind = 'original' AND session_id IS NOT NULL"),
        ),
    )
    id: Mapped[uuid.UUID] = uuid_pk()
    kind: Mapped[str] = mapped_column(String(12))
    series_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoice_series.id"))
    seq: Mapped[int] = mapped_column(BigInteger)
    mccqt: Mapped[str] = mapped_column(String(23), unique=True)
    operator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("operators.id"))
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id"))
    refund_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("refunds.id"), unique=True)
    related_invoice_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("invoices.id"))
    session_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    driver_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    plate: Mapped[str | None] = mapped_column(String(16))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    total_vnd: Mapped[int] = mapped_column(BigInteger)
    net_vnd: Mapped[int] = mapped_column(BigInteger)
    vat_vnd: Mapped[int] = mapped_column(BigInteger)
    vat_rate_bp: Mapped[int] = mapped_column(Integer)
    buyer_name: Mapped[str | None] = mapped_column(Text)
    buyer_tax_code: Mapped[str | None] = mapped_column(String(14))
    buyer_address: Mapped[str | None] = mapped_column(Text)
    buyer_id_number: Mapped[str | None] = mapped_column(String(12))
    buyer_phone: Mapped[str | None] = mapped_column(String(16))
    xml: Mapped[str] = mapped_column(Text)  # the HDon as issued (unsigned; the signature is on the envelope)
    mtdiep: Mapped[str] = mapped_column(String(64), unique=True)  # fixed at issue: retries reuse it
    signed_envelope: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="issued")
    status_reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = now_col()
    updated_at: Mapped[datetime] = now_col()


class InvoiceEvent(Base):
    """Append-only history of an invoice's status (issued, sent, accepted, rejected, retry errors)."""

    __tablename__ = "invoice_events"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id"), index=True)
    at: Mapped[datetime] = now_col()
    status: Mapped[str] = mapped_column(String(10))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)

    __table_args__ = (
        CheckConstraint(
            "status IN (" + ",".join(f"'{s.value}'" for s in InvoiceEventStatus) + ")",
            name=conv("ck_invoice_events_status"),
        ),
    )


class InvoiceBuyerProfile(Base):
    __tablename__ = "invoice_buyer_profiles"
    driver_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("drivers.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    tax_code: Mapped[str | None] = mapped_column(String(14))
    address: Mapped[str | None] = mapped_column(Text)
    id_number: Mapped[str | None] = mapped_column(String(12))
    phone: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[datetime] = now_col()
