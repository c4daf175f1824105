"""one transfer, one payment: the bank's reference is unique; one original invoice per session; refunds of credit

Revision ID: 0015
Revises: 0003

A bank transfer can be reported by two notifiers (the bank-transfer webhook and the gateway IPN), each with
its own notification id but the same bank reference: `payments.bank_ref` is unique, so the second report
finds the first payment instead of booking another. A session's sale is invoiced once (partial unique
index). `refunds.credit_vnd` is the part of a refund that gives back money beyond the fee (a credit, not
revenue): it needs no adjustment invoice.

Upgrading a database that already holds two originals for one session fails on the index: find them with
`parking invoices verify` and correct them (adjustment invoices) first.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("payments", sa.Column("bank_ref", sa.Text(), nullable=True))
    op.create_unique_constraint("uq_payments_bank_ref", "payments", ["bank_ref"])
    op.add_column("refunds", sa.Column("credit_vnd", sa.BigInteger(), nullable=False, server_default="0"))
    op.create_index(
        "uq_invoices_one_original_per_session",
        "invoices",
        ["session_id"],
        unique=True,
        postgresql_where=sa.text("kind = 'original' AND session_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_invoices_one_original_per_session", table_name="invoices")
    op.drop_column("refunds", "credit_vnd")
    op.drop_constraint("uq_payments_bank_ref", "payments", type_="unique")
    op.drop_column("payments", "bank_ref")
