from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class LoginIn(BaseModel):
    email: str = Field(..., max_length=254)
    password: str = Field(..., max_length=1024)


class MeOut(BaseModel):
    id: uuid.UUID
    operator_id: uuid.UUID
    email: str
    name: str
    role: str
    via: str
    lot_ids: list[uuid.UUID]
    csrf_token: str | None = None


class TokenIn(BaseModel):
    name: str = Field(..., min_length=1, max_length=200)
    role: str
    expires_days: int | None = Field(None, ge=1, le=3650)


class TokenOut(BaseModel):
    id: uuid.UUID
    name: str
    role: str
    owner: str
    created_at: datetime | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


class TokenCreated(TokenOut):
    token: str  # shown once; only its SHA-256 is kept


class UserIn(BaseModel):
    email: str = Field(..., max_length=254)
    name: str = Field("", max_length=200)
    role: str
    password: str = Field(..., min_length=10, max_length=1024)
    lot_ids: list[uuid.UUID] = []
    locale: str = Field("vi", pattern="^(vi|en)$")


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    name: str
    role: str
    active: bool
