"""Staff of an operator (console users), the lots they are limited to, their console sessions and API tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from parking.models.base import Base, now_col, uuid_pk

# admin: everything within the operator; supervisor: lane override and fee decisions; operator: watch lanes
# and handle the review queue; finance: revenue, invoices, refunds, reconciliation; auditor: read only.
STAFF_ROLES = ("admin", "supervisor", "operator", "finance", "auditor")
_ROLE_CHECK = "role IN ('admin','supervisor','operator','finance','auditor')"


class StaffUser(Base):
    __tablename__ = "staff_users"
    id: Mapped[uuid.UUID] = uuid_pk()
    operator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("operators.id"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(Text)  # argon2id (PHC string)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    locale: Mapped[str] = mapped_column(String(8), default="vi", server_default="vi")
    created_at: Mapped[datetime] = now_col()
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (CheckConstraint(_ROLE_CHECK, name="role_known"),)


class StaffUserLot(Base):
    """A user with no rows here sees every lot of the operator; with rows, only those lots."""

    __tablename__ = "staff_user_lots"
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"), primary_key=True)
    lot_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lots.id", ondelete="CASCADE"), primary_key=True)


class StaffSession(Base):
    """A console login. The cookie carries a random token (signed); the row holds its SHA-256 and the CSRF token."""

    __tablename__ = "staff_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = now_col()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class StaffToken(Base):
    """An API token for an integration: stored as SHA-256, acts with its own role, revocable."""

    __tablename__ = "staff_tokens"
    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(Text)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = now_col()
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (CheckConstraint(_ROLE_CHECK, name="role_known"),)
