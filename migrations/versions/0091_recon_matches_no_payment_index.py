"""recon_matches loses its index on payment_id (issue 10's benchmark).

No query looks a match up by its payment (healing finds it by its line); a run writes a million matches and
that index on random UUIDs was one of the costliest parts of writing them.

Revision ID: 0091
Revises: 0090
"""

from __future__ import annotations

from alembic import op

revision = "0091"
down_revision = "0090"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_recon_matches_payment", table_name="recon_matches")


def downgrade() -> None:
    op.create_index("ix_recon_matches_payment", "recon_matches", ["payment_id"])
