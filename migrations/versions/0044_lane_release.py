"""unpaid QR at the exit: how long a lane waits before letting the car out as a debt (or calling the attendant)

Revision ID: 0044
Revises: 0043
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0044"
down_revision = "0043"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("lots", sa.Column("qr_lane_wait_s", sa.SmallInteger(), nullable=False, server_default="20"))
    op.add_column("lots", sa.Column("unpaid_qr_policy", sa.String(16), nullable=False, server_default="debt"))
    op.create_check_constraint(op.f("ck_lots_qr_lane_wait_range"), "lots", "qr_lane_wait_s BETWEEN 5 AND 300")
    op.create_check_constraint(
        op.f("ck_lots_unpaid_qr_policy_known"), "lots", "unpaid_qr_policy IN ('debt','attendant')"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_lots_unpaid_qr_policy_known"), "lots")
    op.drop_constraint(op.f("ck_lots_qr_lane_wait_range"), "lots")
    op.drop_column("lots", "unpaid_qr_policy")
    op.drop_column("lots", "qr_lane_wait_s")
