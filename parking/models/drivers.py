"""Drivers, their sign-in tokens, registered vehicles and linked payment methods (migration 0002)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from parking.models.base import Base, now_col, uuid_pk


class Driver(Base):
    __tablename__ = "drivers"
    id: Mapped[uuid.UUID] = uuid_pk()
    email: Mapped[str] = mapped_column(String(254), unique=True)
    full_name: Mapped[str] = mapped_column(Text, default="")
    phone: Mapped[str] = mapped_column(String(20), default="")
    password_hash: Mapped[str] = mapped_column(Text)
    deferred_limit_vnd: Mapped[int] = mapped_column(BigInteger, default=300_000)
    created_at: Mapped[datetime] = now_col()


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
