"""status checks: refunds, invoice events and outbox messages get the CHECK constraints that mirror their StrEnums

Revision ID: 0017
Revises: 0016

payments, payment_intents, debts and invoices already had theirs (0002, 0003); the enums now live in
parking/models/{payments,invoices,outbox}.py and a test reads the constraints back from the catalogue.
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_check_constraint(op.f("ck_refunds_status"), "refunds", "status IN ('pending','succeeded','failed')")
    op.create_check_constraint(
        op.f("ck_invoice_events_status"),
        "invoice_events",
        "status IN ('issued','sent','accepted','rejected','waiting')",
    )
    # An outbox message is pending, processed or dead: never processed and dead at once.
    op.execute("UPDATE outbox SET dead = false WHERE processed_at IS NOT NULL AND dead")
    op.create_check_constraint(op.f("ck_outbox_processed_or_dead"), "outbox", "processed_at IS NULL OR NOT dead")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_outbox_processed_or_dead"), "outbox", type_="check")
    op.drop_constraint(op.f("ck_invoice_events_status"), "invoice_events", type_="check")
    op.drop_constraint(op.f("ck_refunds_status"), "refunds", type_="check")
