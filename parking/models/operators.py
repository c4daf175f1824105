"""Operators, their lots, capacities per vehicle class, and lanes."""

from __future__ import annotations

import uuid
from datetime import datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from parking.models.base import Base, now_col, uuid_pk
from parking.vocabulary import VEHICLE_CLASSES


class Operator(Base):
    __tablename__ = "operators"
    id: Mapped[uuid.UUID] = uuid_pk()
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(Text)
    address: Mapped[str] = mapped_column(Text, default="")
    tax_code: Mapped[str] = mapped_column(String(14), default="")
    # Cash-register e-invoice settings (Decision 1271/QĐ-CT): 5 characters issued by the tax authority and the
    # two letters the seller chooses for its invoice symbol (e.g. 1C26MAA).
    invoice_series_code: Mapped[str | None] = mapped_column(String(5))
    invoice_symbol_letters: Mapped[str] = mapped_column(String(2), default="AA")
    created_at: Mapped[datetime] = now_col()


class Lot(Base):
    __tablename__ = "lots"
    id: Mapped[uuid.UUID] = uuid_pk()
    operator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("operators.id"), index=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(Text)
    address: Mapped[str] = mapped_column(Text)
    latitude: Mapped[Decimal] = mapped_column(Numeric(9, 6))
    longitude: Mapped[Decimal] = mapped_column(Numeric(9, 6))
    tariff_id: Mapped[str] = mapped_column(String(64))
    tariff_zone: Mapped[str] = mapped_column(String(64))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Ho_Chi_Minh")
    created_at: Mapped[datetime] = now_col()
    # Opening hours in local wall-clock time; both NULL = open around the clock (migration 0040).
    opens_at: Mapped[time | None] = mapped_column(Time)
    closes_at: Mapped[time | None] = mapped_column(Time)
    accepts_linked: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    accepts_vietqr: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # An unpaid VietQR at the exit holds the lane this long, then the car leaves with a debt ('debt') or the
    # attendant is called ('attendant'): the operator's policy (migration 0044).
    qr_lane_wait_s: Mapped[int] = mapped_column(SmallInteger, default=20, server_default="20")
    unpaid_qr_policy: Mapped[str] = mapped_column(String(16), default="debt", server_default="debt")

    __table_args__ = (
        CheckConstraint("latitude BETWEEN -90 AND 90", name="latitude_range"),
        CheckConstraint("longitude BETWEEN -180 AND 180", name="longitude_range"),
        CheckConstraint("(opens_at IS NULL) = (closes_at IS NULL)", name="hours_both_or_none"),
        CheckConstraint("qr_lane_wait_s BETWEEN 5 AND 300", name="qr_lane_wait_range"),
        CheckConstraint("unpaid_qr_policy IN ('debt','attendant')", name="unpaid_qr_policy_known"),
        # Find-a-space: distance in PostgreSQL (cube + earthdistance), earth_box searches use this index.
        Index(
            "ix_lots_earth",
            text("ll_to_earth(latitude::double precision, longitude::double precision)"),
            postgresql_using="gist",
        ),
    )


class LotCapacity(Base):
    """Capacity and the live count of occupied spaces per vehicle class.

    ``occupied`` is maintained in the same transaction as the sessions it counts, so a conditional
    ``UPDATE ... WHERE occupied < capacity`` is the database's own guard against over-filling a lot.
    """

    __tablename__ = "lot_capacities"
    lot_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lots.id", ondelete="CASCADE"), primary_key=True)
    vehicle_class: Mapped[str] = mapped_column(String(16), primary_key=True)
    capacity: Mapped[int] = mapped_column(Integer)
    occupied: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (
        CheckConstraint("capacity >= 0", name="capacity_nonnegative"),
        CheckConstraint("occupied >= 0", name="occupied_nonnegative"),
        CheckConstraint("vehicle_class IN ('bicycle','motorbike','car_small','car_large')", name="vehicle_class_known"),
    )


class Lane(Base):
    __tablename__ = "lanes"
    id: Mapped[uuid.UUID] = uuid_pk()
    lot_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lots.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(8))
    vehicle_class: Mapped[str] = mapped_column(String(16))
    # SHA-256 of the lane's random 256-bit secret (see parking/lanes/auth.py for why not a slow KDF).
    credential_hash: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(default=True)
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_heartbeat: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = now_col()

    __table_args__ = (
        UniqueConstraint("lot_id", "code"),
        CheckConstraint("direction IN ('entry','exit')", name="direction_known"),
    )


__all__ = ["UUID", "VEHICLE_CLASSES", "Lane", "Lot", "LotCapacity", "Operator"]
