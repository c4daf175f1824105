"""staff: console users of an operator, their lots, console sessions, API tokens

Revision ID: 0030
Revises: 0051
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0030"
down_revision = "0051"
branch_labels = None
depends_on = None

UUID = postgresql.UUID(as_uuid=True)
TS = sa.DateTime(timezone=True)
NOW = sa.text("now()")
ROLE_CHECK = "role IN ('admin','supervisor','operator','finance','auditor')"


def upgrade() -> None:
    op.create_table(
        "staff_users",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("operator_id", UUID, sa.ForeignKey("operators.id"), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False, server_default="true"),
        sa.Column("locale", sa.String(8), nullable=False, server_default="vi"),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
        sa.Column("last_login_at", TS, nullable=True),
        sa.UniqueConstraint("email", name="uq_staff_users_email"),
        sa.CheckConstraint(ROLE_CHECK, name="ck_staff_users_role_known"),
    )
    op.create_index("ix_staff_users_operator_id", "staff_users", ["operator_id"])
    op.create_table(
        "staff_user_lots",
        sa.Column("user_id", UUID, sa.ForeignKey("staff_users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("lot_id", UUID, sa.ForeignKey("lots.id", ondelete="CASCADE"), primary_key=True),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", UUID, sa.ForeignKey("staff_users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
    )
    op.create_index("ix_staff_sessions_user_id", "staff_sessions", ["user_id"])
    op.create_table(
        "staff_tokens",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("user_id", UUID, sa.ForeignKey("staff_users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("revoked_at", TS, nullable=True),
        sa.Column("last_used_at", TS, nullable=True),
        sa.UniqueConstraint("token_hash", name="uq_staff_tokens_token_hash"),
        sa.CheckConstraint(ROLE_CHECK, name="ck_staff_tokens_role_known"),
    )
    op.create_index("ix_staff_tokens_user_id", "staff_tokens", ["user_id"])


def downgrade() -> None:
    op.drop_table("staff_tokens")
    op.drop_table("staff_sessions")
    op.drop_table("staff_user_lots")
    op.drop_table("staff_users")
