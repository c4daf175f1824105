"""HTTP shapes of the payments API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class IntentOut(BaseModel):
    reference: str
    status: str
    amount_vnd: int
    session_id: uuid.UUID | None
    qr_payload: str
    expires_at: datetime


class RefundIn(BaseModel):
    amount_vnd: int = Field(gt=0)
    reason: str = Field(min_length=3, max_length=500)
    actor: str | None = Field(None, max_length=128)


class RefundOut(BaseModel):
    id: uuid.UUID
    payment_id: uuid.UUID
    amount_vnd: int
    reason: str
    status: str


class UnpaidExitIn(BaseModel):
    reason: str = Field("attendant_override", pattern="^(attendant_override|lane_offline|qr_unpaid)$")
