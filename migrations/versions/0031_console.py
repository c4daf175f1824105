"""console: alerts acknowledged by a person, manual barrier overrides

Revision ID: 0031
Revises: 0030
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

UUID = postgresql.UUID(as_uuid=True)
TS = sa.DateTime(timezone=True)
NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "console_alerts",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("operator_id", UUID, sa.ForeignKey("operators.id"), nullable=False),
        sa.Column("lot_id", UUID, sa.ForeignKey("lots.id"), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("dedupe_key", sa.String(200), nullable=False),
        sa.Column("raised_at", TS, server_default=NOW, nullable=False),
        sa.Column("acknowledged_at", TS, nullable=True),
        sa.Column("acknowledged_by", sa.Text(), nullable=True),
        sa.Column("ack_note", sa.Text(), nullable=True),
        sa.CheckConstraint("severity IN ('info','warning','critical')", name="ck_console_alerts_severity_known"),
    )
    op.create_index("ix_console_alerts_operator_id", "console_alerts", ["operator_id"])
    op.create_index(
        "uq_console_alerts_open_dedupe", "console_alerts", ["dedupe_key"], unique=True,
        postgresql_where=sa.text("acknowledged_at IS NULL"),
    )
    op.create_table(
        "lane_overrides",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("lane_id", UUID, sa.ForeignKey("lanes.id"), nullable=False),
        sa.Column("lot_id", UUID, sa.ForeignKey("lots.id"), nullable=False),
        sa.Column("user_id", UUID, sa.ForeignKey("staff_users.id"), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("photo", sa.LargeBinary(), nullable=True),
        sa.Column("photo_type", sa.String(32), nullable=True),
        sa.Column("at", TS, server_default=NOW, nullable=False),
        sa.CheckConstraint("length(reason) >= 3", name="ck_lane_overrides_reason_given"),
    )
    op.create_index("ix_lane_overrides_lane_id", "lane_overrides", ["lane_id"])


def downgrade() -> None:
    op.drop_table("lane_overrides")
    op.drop_table("console_alerts")
