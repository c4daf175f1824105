"""places: find-a-space (earthdistance + GiST index on lots), opening hours and accepted payment ways of a lot

Revision ID: 0040
Revises: 0020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0040"
down_revision = "0020"
branch_labels = None
depends_on = None

EARTH = "ll_to_earth(latitude::double precision, longitude::double precision)"


def upgrade() -> None:
    # Both ship with PostgreSQL's contrib (the embedded server has them); earthdistance needs cube.
    op.execute("CREATE EXTENSION IF NOT EXISTS cube")
    op.execute("CREATE EXTENSION IF NOT EXISTS earthdistance")
    # NULL opening and closing times: open around the clock. Local (Asia/Ho_Chi_Minh) wall-clock times;
    # closes_at < opens_at means the lot closes after midnight.
    op.add_column("lots", sa.Column("opens_at", sa.Time(), nullable=True))
    op.add_column("lots", sa.Column("closes_at", sa.Time(), nullable=True))
    op.add_column("lots", sa.Column("accepts_linked", sa.Boolean(), nullable=False, server_default=sa.true()))
    op.add_column("lots", sa.Column("accepts_vietqr", sa.Boolean(), nullable=False, server_default=sa.true()))
    op.create_check_constraint(op.f("ck_lots_hours_both_or_none"), "lots", "(opens_at IS NULL) = (closes_at IS NULL)")
    op.create_index("ix_lots_earth", "lots", [sa.text(EARTH)], postgresql_using="gist")


def downgrade() -> None:
    op.drop_index("ix_lots_earth", table_name="lots")
    op.drop_constraint(op.f("ck_lots_hours_both_or_none"), "lots")
    for col in ("accepts_vietqr", "accepts_linked", "closes_at", "opens_at"):
        op.drop_column("lots", col)
    op.execute("DROP EXTENSION IF EXISTS earthdistance")
    op.execute("DROP EXTENSION IF EXISTS cube")
