"""The city's feed: API clients with scopes, their webhooks and the delivery log (migration 0043)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from parking.models.base import Base, now_col, uuid_pk

CITY_SCOPES = ("places:read", "occupancy:read", "rates:read", "aggregates:read", "webhooks:manage")
WEBHOOK_EVENTS = ("availability", "alert")


class CityClient(Base):
    __tablename__ = "city_clients"
    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(Text)
    # SHA-256 of the client's random 256-bit secret (as for lanes: a fast hash suffices for random secrets).
    key_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(ARRAY(Text))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_at: Mapped[datetime] = now_col()


class CityWebhook(Base):
    __tablename__ = "city_webhooks"
    id: Mapped[uuid.UUID] = uuid_pk()
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("city_clients.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(Text)  # HMAC key shared with the receiver: we must hold it to sign
    events: Mapped[list[str]] = mapped_column(ARRAY(Text))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_at: Mapped[datetime] = now_col()


class CityWebhookDelivery(Base):
    """One attempt to deliver one event to one webhook (the outbox retries; every attempt is logged)."""

    __tablename__ = "city_webhook_deliveries"
    id: Mapped[uuid.UUID] = uuid_pk()
    webhook_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("city_webhooks.id", ondelete="CASCADE"))
    delivery_key: Mapped[str] = mapped_column(String(200))
    event: Mapped[str] = mapped_column(String(32))
    ok: Mapped[bool] = mapped_column(Boolean)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = now_col()

    __table_args__ = (Index("ix_city_webhook_deliveries_webhook_created", "webhook_id", "created_at"),)
