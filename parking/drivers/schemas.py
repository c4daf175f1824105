"""HTTP shapes of the driver API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from parking.vocabulary import VehicleClass


class RegisterIn(BaseModel):
    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s\x00]+@[^@\s\x00]+$")
    password: str = Field(min_length=8, max_length=200)
    full_name: str = Field("", max_length=200, pattern=r"^[^\x00]*$")
    phone: str = Field("", max_length=20, pattern=r"^[^\x00]*$")


class LoginIn(BaseModel):
    email: str = Field(max_length=254, pattern=r"^[^\x00]*$")
    password: str = Field(max_length=200)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime


class DriverOut(BaseModel):
    id: uuid.UUID
    email: str
    full_name: str
    phone: str
    deferred_limit_vnd: int


class VehicleIn(BaseModel):
    plate: str = Field(min_length=4, max_length=32, examples=["30A-123.45"])
    vehicle_class: VehicleClass = VehicleClass.CAR_SMALL
    note: str = Field(
        "", max_length=500, pattern=r"^[^\x00]*$", description="For the operator reviewing an unproven claim"
    )


class VehicleOut(BaseModel):
    id: uuid.UUID
    plate: str
    plate_display: str
    vehicle_class: str
    verified_by: str = Field(description="idp: the identity provider's registration data; operator: approved")
    history_from: datetime = Field(description="Sessions before this instant are never shown to the driver")


class ClaimOut(BaseModel):
    id: uuid.UUID
    plate: str
    plate_display: str
    vehicle_class: str
    status: str = Field(description="pending | approved | rejected")
    note: str
    decision_reason: str | None
    created_at: datetime
    decided_at: datetime | None


class ClaimDecisionIn(BaseModel):
    approve: bool
    reason: str = Field("", max_length=500, pattern=r"^[^\x00]*$")
    history_from: datetime | None = Field(None, description="Registration date seen on the papers (default: now)")


class OidcSignInIn(BaseModel):
    id_token: str = Field(
        min_length=10, max_length=20_000, pattern=r"^[A-Za-z0-9_\-.=]+$", description="OpenID Connect ID token (JWT)"
    )


class OidcSignInOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime
    driver: DriverOut
    vehicles: list[VehicleOut]


class MethodIn(BaseModel):
    provider_token: str = Field(min_length=4, max_length=200, pattern=r"^[^\x00]*$")
    kind: str = Field("ewallet", pattern="^(bank_account|ewallet)$")
    label: str = Field("", max_length=100, pattern=r"^[^\x00]*$")


class MethodOut(BaseModel):
    id: uuid.UUID
    provider: str
    kind: str
    label: str
    status: str
    token_last4: str


class PassIn(BaseModel):
    plate: str
    lot_id: uuid.UUID
    start: datetime | None = None  # default: now


class PassOut(BaseModel):
    id: uuid.UUID
    plate: str
    lot_id: uuid.UUID
    vehicle_class: str
    band: str
    valid_from: datetime
    valid_until: datetime
    price_vnd: int
    payment_id: uuid.UUID | None


class DebtOut(BaseModel):
    id: uuid.UUID
    session_id: uuid.UUID
    plate: str | None
    amount_vnd: int
    reason: str
    status: str
    created_at: datetime


class PayDebtIn(BaseModel):
    method: str = Field("linked", pattern="^(linked|vietqr)$")


class PayDebtOut(BaseModel):
    debt_id: uuid.UUID
    status: str
    payment_id: uuid.UUID | None = None
    payment: dict[str, Any] | None = None  # VietQR to scan when method = vietqr
