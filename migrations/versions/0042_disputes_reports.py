"""disputes of a session's fee (with evidence pack and decision) and lot ratings / problem reports

Revision ID: 0042
Revises: 0041
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0042"
down_revision = "0041"
branch_labels = None
depends_on = None

UUID = postgresql.UUID(as_uuid=True)
TS = sa.DateTime(timezone=True)
NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "disputes",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("session_id", UUID, sa.ForeignKey("parking_sessions.id"), nullable=False),
        sa.Column("driver_id", UUID, sa.ForeignKey("drivers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("lot_id", UUID, sa.ForeignKey("lots.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("evidence", postgresql.JSONB(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="open"),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("refund_id", UUID, sa.ForeignKey("refunds.id"), nullable=True),
        sa.Column("refund_vnd", sa.BigInteger(), nullable=True),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
        sa.CheckConstraint(
            "kind IN ('wrong_plate','wrong_time','charged_twice','other')", name=op.f("ck_disputes_kind_known")
        ),
        sa.CheckConstraint("status IN ('open','refunded','rejected')", name=op.f("ck_disputes_status_known")),
        sa.CheckConstraint("refund_vnd IS NULL OR refund_vnd > 0", name=op.f("ck_disputes_refund_positive")),
    )
    op.create_index(
        "uq_disputes_open",
        "disputes",
        ["session_id", "driver_id"],
        unique=True,
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_index("ix_disputes_status_created", "disputes", ["status", "created_at"])
    op.create_index("ix_disputes_lot_created", "disputes", ["lot_id", "created_at"])
    op.create_index("ix_disputes_driver", "disputes", ["driver_id"])
    op.create_table(
        "lot_reports",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("lot_id", UUID, sa.ForeignKey("lots.id"), nullable=False),
        sa.Column("driver_id", UUID, sa.ForeignKey("drivers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("stars", sa.SmallInteger(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False, server_default=""),
        sa.Column("status", sa.String(16), nullable=False, server_default="new"),
        sa.Column("acknowledged_by", sa.String(64), nullable=True),
        sa.Column("acknowledged_at", TS, nullable=True),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
        sa.CheckConstraint(
            "kind IN ('rating','cash_requested','shown_free_but_full','barrier_broken','other')",
            name=op.f("ck_lot_reports_kind_known"),
        ),
        sa.CheckConstraint("status IN ('new','acknowledged','closed')", name=op.f("ck_lot_reports_status_known")),
        sa.CheckConstraint(
            "(kind = 'rating') = (stars IS NOT NULL)", name=op.f("ck_lot_reports_stars_only_for_ratings")
        ),
        sa.CheckConstraint("stars IS NULL OR stars BETWEEN 1 AND 5", name=op.f("ck_lot_reports_stars_range")),
    )
    op.create_index("ix_lot_reports_lot_created", "lot_reports", ["lot_id", "created_at"])
    op.create_index(
        "ix_lot_reports_new",
        "lot_reports",
        ["created_at"],
        postgresql_where=sa.text("status = 'new' AND kind <> 'rating'"),
    )


def downgrade() -> None:
    op.drop_table("lot_reports")
    op.drop_table("disputes")
