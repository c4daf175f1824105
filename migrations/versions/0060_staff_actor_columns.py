"""Who decided a dispute or a plate claim, who acknowledged a report: the staff actor (issue 11.1).

Staff accounts replaced the shared operator key; the actor is now ``staff:<e-mail>#token:<id>``, longer than the
64 characters these columns held. Text, like the console's and reconciliation's actor columns.

Revision ID: 0060
Revises: 0031
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0060"
down_revision = "0031"
branch_labels = None
depends_on = None

COLUMNS = (("disputes", "decided_by"), ("lot_reports", "acknowledged_by"), ("vehicle_claims", "decided_by"))


def upgrade() -> None:
    for table, column in COLUMNS:
        op.alter_column(table, column, type_=sa.Text(), existing_type=sa.String(64), existing_nullable=True)


def downgrade() -> None:
    for table, column in COLUMNS:
        op.alter_column(
            table,
            column,
            type_=sa.String(64),
            existing_type=sa.Text(),
            existing_nullable=True,
            postgresql_using=f"left({column}, 64)",
        )
