"""HTTP shapes of the city feed that are written to (clients, webhooks); the read views are documented JSON."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

SCOPE_PATTERN = "^(places:read|occupancy:read|rates:read|aggregates:read|webhooks:manage)$"


class ClientIn(BaseModel):
    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00]*$", examples=["iHanoi"])
    scopes: list[str] = Field(
        min_length=1, max_length=5, examples=[["places:read", "occupancy:read", "rates:read", "webhooks:manage"]]
    )


class ClientOut(BaseModel):
    id: uuid.UUID
    name: str
    scopes: list[str]
    key: str | None = Field(None, description="Shown once, at creation")


class WebhookIn(BaseModel):
    url: str = Field(
        min_length=8,
        max_length=2000,
        pattern=r"^https?://[^\x00\s]+$",
        examples=["https://ihanoi.example/hooks/parking"],
    )
    events: list[str] = Field(min_length=1, max_length=2, examples=[["availability", "alert"]])


class WebhookOut(BaseModel):
    id: uuid.UUID
    url: str
    events: list[str]
    enabled: bool
    secret: str | None = Field(None, description="HMAC key of X-Parking-Signature; shown once, at creation")


class DeliveryOut(BaseModel):
    event: str
    ok: bool
    status_code: int | None
    error: str | None
    created_at: datetime
