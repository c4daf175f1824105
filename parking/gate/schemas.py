from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

VehicleClass = Literal["bicycle", "motorbike", "car_small", "car_large"]
Action = Literal["open", "pay", "attendant", "refuse"]


class GateEventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: uuid.UUID = Field(description="Minted by the device; the idempotency key of this event")
    kind: Literal["entry", "exit"]
    plate: str | None = Field(None, max_length=32, description="Plate as read, e.g. '30A-123.45'; null if unreadable")
    confidence: float = Field(ge=0.0, le=1.0)
    captured_at: datetime = Field(description="When the device saw the vehicle, ISO 8601 with a UTC offset")
    vehicle_class: VehicleClass | None = None
    image_jpeg_b64: str | None = Field(None, description="Optional plate crop, base64 JPEG")
    offline_action: Literal["opened"] | None = Field(
        None, description="Set when the lane already opened the barrier while it could not reach the server"
    )

    @field_validator("captured_at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None or v.utcoffset() is None:
            raise ValueError("captured_at must carry a UTC offset, e.g. 2026-11-22T08:15:00+07:00")
        return v


class Display(BaseModel):
    title: str
    lines: list[str] = []


class PaymentInfo(BaseModel):
    qr_payload: str | None = None
    reference: str | None = None
    amount_vnd: int
    expires_at: str | None = None
    # How long the lane shows the QR before releasing the car, and what happens then ('debt': the lane opens
    # and reports POST /v1/gate/sessions/{id}/left-unpaid; 'attendant': the lane calls the attendant).
    lane_wait_s: int | None = None
    on_timeout: str | None = None


class GateDecision(BaseModel):
    event_id: uuid.UUID
    session_id: uuid.UUID | None
    action: Action
    display: Display
    fee_vnd: int | None = None
    payment: PaymentInfo | None = None
    receipt_url: str | None = None
    flags: list[str] = []
    replayed: bool = False


class HeartbeatIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    fps: float = Field(0.0, ge=0)
    frames_ok: int = Field(0, ge=0)
    frames_bad: int = Field(0, ge=0)
    camera_ok: bool = True
    camera_error: str | None = None
    last_read: dict[str, Any] | None = None
    queue_depth: int = Field(0, ge=0)
    offline: bool = False
    agent_version: str = ""


class HeartbeatOut(BaseModel):
    server_time: datetime
    lane: dict[str, Any]


class SessionStatus(BaseModel):
    session_id: uuid.UUID
    status: str
    payment_status: str
    action: Action | None
    fee_vnd: int | None
    receipt_url: str | None = None


class OutcomeIn(BaseModel):
    """What the lane did on its own for an event it already sent (the event body itself never changes)."""

    model_config = ConfigDict(extra="forbid")

    outcome: Literal["opened"] = Field(description="The lane opened the barrier without the server's answer")
    at: datetime | None = Field(None, description="When the barrier opened, ISO 8601 with a UTC offset")
    flags: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list, max_length=16)

    @field_validator("at")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and (v.tzinfo is None or v.utcoffset() is None):
            raise ValueError("at must carry a UTC offset")
        return v


class OutcomeOut(BaseModel):
    event_id: uuid.UUID
    session_id: uuid.UUID | None
    session_status: str | None
    payment_status: str | None
    flags: list[str] = []
    replayed: bool = False
