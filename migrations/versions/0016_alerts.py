"""alerts: conditions a person must act on (one open alert per kind and subject)

Revision ID: 0016
Revises: 0015

First use: an e-invoice that cannot be signed because the operator's certificate is not installed waits
(the outbox retries it without giving up) and raises `invoice.signing_certificate_missing` for the operator.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("details", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "uq_alerts_open", "alerts", ["kind", "subject"], unique=True, postgresql_where=sa.text("resolved_at IS NULL")
    )


def downgrade() -> None:
    op.drop_index("uq_alerts_open", table_name="alerts")
    op.drop_table("alerts")
