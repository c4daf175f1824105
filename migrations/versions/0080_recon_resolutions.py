"""Finance explains a reconciliation discrepancy: who, when, why (issue 11.3, the finance console).

A table of its own, keyed by (operator, day, class, subject), not columns on ``recon_discrepancies``: a re-run
of the day replaces those rows, and an explanation must survive it.

Revision ID: 0080
Revises: 0060
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0080"
down_revision = "0060"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recon_resolutions",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("operator_id", postgresql.UUID(as_uuid=True), sa.ForeignKey("operators.id"), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("code", sa.String(24), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("resolved_by", sa.Text(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.UniqueConstraint(
            "operator_id", "business_date", "code", "subject", name="uq_recon_resolutions_operator_date_code_subject"
        ),
    )


def downgrade() -> None:
    op.drop_table("recon_resolutions")
