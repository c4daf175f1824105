"""city feed: API clients with scopes, outgoing webhooks and their delivery log

Revision ID: 0043
Revises: 0042
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0043"
down_revision = "0042"
branch_labels = None
depends_on = None

UUID = postgresql.UUID(as_uuid=True)
TS = sa.DateTime(timezone=True)
NOW = sa.text("now()")
TEXTS = postgresql.ARRAY(sa.Text())


def upgrade() -> None:
    op.create_table(
        "city_clients",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("scopes", TEXTS, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
    )
    op.create_table(
        "city_webhooks",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("client_id", UUID, sa.ForeignKey("city_clients.id", ondelete="CASCADE"), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("events", TEXTS, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
    )
    op.create_index(op.f("ix_city_webhooks_client_id"), "city_webhooks", ["client_id"])
    op.create_table(
        "city_webhook_deliveries",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("webhook_id", UUID, sa.ForeignKey("city_webhooks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("delivery_key", sa.String(200), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
    )
    op.create_index(
        "ix_city_webhook_deliveries_webhook_created", "city_webhook_deliveries", ["webhook_id", "created_at"]
    )


def downgrade() -> None:
    op.drop_table("city_webhook_deliveries")
    op.drop_table("city_webhooks")
    op.drop_table("city_clients")
