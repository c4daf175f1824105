"""Drivers, their sign-in tokens, registered vehicles and linked payment methods (migrations 0002, 0041)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from parking.models.base import Base, now_col, uuid_pk


class Driver(Base):
    __tablename__ = "drivers"
    id: Mapped[uuid.UUID] = uuid_pk()
    email: Mapped[str] = mapped_column(String(254), unique=True)
    full_name: Mapped[str] = mapped_column(Text, default="")
    phone: Mapped[str] = mapped_column(String(20), default="")
    password_hash: Mapped[str | None] = mapped_column(Text)  # NULL: signs in through the identity provider
    deferred_limit_vnd: Mapped[int] = mapped_column(BigInteger, default=300_000)
    created_at: Mapped[datetime] = now_col()
    identity_issuer: Mapped[str | None] = mapped_column(String(255))
    identity_subject: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (UniqueConstraint("identity_issuer", "identity_subject", name="uq_drivers_identity"),)


class DriverToken(Base):
    __tablename__ = "driver_tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    driver_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("drivers.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = now_col()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DriverVehicle(Base):
    __tablename__ = "driver_vehicles"
    id: Mapped[uuid.UUID] = uuid_pk()
    driver_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("drivers.id", ondelete="CASCADE"), index=True)
    plate: Mapped[str] = mapped_column(String(16), unique=True)
    vehicle_class: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = now_col()
    # The proof of the link: the identity provider's vehicle registration claim, or an operator's approval
    # ('legacy': linked before proofs were required). Sessions before history_from are never shown.
    verified_by: Mapped[str] = mapped_column(String(16), default="legacy", server_default="legacy")
    history_from: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))

    __table_args__ = (CheckConstraint("verified_by IN ('idp','operator','legacy')", name="verified_by_known"),)


class VehicleClaim(Base):
    """A driver's claim to a plate the identity provider did not assert: an operator approves or rejects it."""

    __tablename__ = "vehicle_claims"
    id: Mapped[uuid.UUID] = uuid_pk()
    driver_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("drivers.id", ondelete="CASCADE"))
    plate: Mapped[str] = mapped_column(String(16))
    vehicle_class: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    decision_reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = now_col()

    __table_args__ = (
        CheckConstraint("status IN ('pending','approved','rejected')", name="status_known"),
        Index(
            "uq_vehicle_claims_pending", "driver_id", "plate", unique=True, postgresql_where=text("status = 'pending'")
        ),
        Index("ix_vehicle_claims_status", "status", "created_at"),
    )


class PaymentMethod(Base):
    __tablename__ = "payment_methods"
    # One active linked account per driver.
    __table_args__ = (
        Index("uq_payment_methods_one_active", "driver_id", unique=True, postgresql_where=text("status = 'active'")),
    )
    id: Mapped[uuid.UUID] = uuid_pk()
    driver_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("drivers.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    token: Mapped[str] = mapped_column(Text)
    label: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = now_col()
