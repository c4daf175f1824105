"""driver identity: OpenID Connect subjects, plates linked only with proof, plate claims for operator review

Revision ID: 0041
Revises: 0040
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0041"
down_revision = "0040"
branch_labels = None
depends_on = None

UUID = postgresql.UUID(as_uuid=True)
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Drivers from the city's identity provider have no password here.
    op.alter_column("drivers", "password_hash", existing_type=sa.Text(), nullable=True)
    op.add_column("drivers", sa.Column("identity_issuer", sa.String(255), nullable=True))
    op.add_column("drivers", sa.Column("identity_subject", sa.String(255), nullable=True))
    op.create_unique_constraint(op.f("uq_drivers_identity"), "drivers", ["identity_issuer", "identity_subject"])
    # How a plate came to be linked, and from when its history is the driver's (never before the proof).
    op.add_column("driver_vehicles", sa.Column("verified_by", sa.String(16), nullable=False, server_default="legacy"))
    op.add_column("driver_vehicles", sa.Column("history_from", TS, nullable=False, server_default=sa.text("now()")))
    op.execute("UPDATE driver_vehicles SET history_from = created_at")
    op.create_check_constraint(
        op.f("ck_driver_vehicles_verified_by_known"), "driver_vehicles", "verified_by IN ('idp','operator','legacy')"
    )
    op.create_table(
        "vehicle_claims",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("driver_id", UUID, sa.ForeignKey("drivers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("plate", sa.String(16), nullable=False),
        sa.Column("vehicle_class", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("note", sa.Text(), nullable=False, server_default=""),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("created_at", TS, server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('pending','approved','rejected')", name=op.f("ck_vehicle_claims_status_known")),
    )
    op.create_index(
        "uq_vehicle_claims_pending",
        "vehicle_claims",
        ["driver_id", "plate"],
        unique=True,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index("ix_vehicle_claims_status", "vehicle_claims", ["status", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_vehicle_claims_status", table_name="vehicle_claims")
    op.drop_index("uq_vehicle_claims_pending", table_name="vehicle_claims")
    op.drop_table("vehicle_claims")
    op.drop_constraint(op.f("ck_driver_vehicles_verified_by_known"), "driver_vehicles")
    op.drop_column("driver_vehicles", "history_from")
    op.drop_column("driver_vehicles", "verified_by")
    op.drop_constraint(op.f("uq_drivers_identity"), "drivers")
    op.drop_column("drivers", "identity_subject")
    op.drop_column("drivers", "identity_issuer")
    op.alter_column("drivers", "password_hash", existing_type=sa.Text(), nullable=False)
