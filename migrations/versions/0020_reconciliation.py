"""reconciliation: imported statement/settlement lines (raw kept), runs, matches, discrepancies, healing

Revision ID: 0020
Revises: 0017
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0020"
down_revision = "0017"
branch_labels = None
depends_on = None

UUID = postgresql.UUID(as_uuid=True)
TS = sa.DateTime(timezone=True)
NOW = sa.text("now()")
TEXTS = postgresql.ARRAY(sa.Text())


def _ident() -> sa.Column:
    return sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True)


def upgrade() -> None:
    # The nightly run selects a day's payments and intents and joins them (parking/models/payments.py).
    op.create_index("ix_payments_confirmed_at", "payments", ["confirmed_at"])
    op.create_index("ix_payments_intent_id", "payments", ["intent_id"])
    op.create_index("ix_payment_intents_created_at", "payment_intents", ["created_at"])
    op.create_table(
        "recon_files",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("preset", sa.String(32), nullable=True),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("new_lines", sa.Integer(), nullable=False),
        sa.Column("imported_at", TS, server_default=NOW, nullable=False),
        sa.UniqueConstraint("provider", "kind", "sha256", name="uq_recon_files_provider_kind_sha256"),
    )
    op.create_table(
        "recon_statement_lines",
        _ident(),
        sa.Column("file_id", UUID, sa.ForeignKey("recon_files.id"), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("natural_key", sa.Text(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("raw_hash", sa.String(64), nullable=False),
        sa.Column("booked_at", TS, nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("direction", sa.String(6), nullable=False),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("balance_vnd", sa.BigInteger(), nullable=True),
        sa.Column("bank_ref", sa.Text(), nullable=True),
        sa.Column("narrative", sa.Text(), nullable=False),
        sa.Column("payer_account", sa.Text(), nullable=True),
        sa.Column("tokens", TEXTS, nullable=False),
        sa.Column("partial_tokens", TEXTS, nullable=False),
        sa.UniqueConstraint("provider", "natural_key", name="uq_recon_statement_lines_provider_key"),
    )
    op.create_index("ix_recon_statement_lines_business_date", "recon_statement_lines", ["business_date"])
    op.create_table(
        "recon_settlement_lines",
        _ident(),
        sa.Column("file_id", UUID, sa.ForeignKey("recon_files.id"), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("natural_key", sa.Text(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("raw_hash", sa.String(64), nullable=False),
        sa.Column("batch_id", sa.Text(), nullable=False),
        sa.Column("txn_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("reference", sa.Text(), nullable=True),
        sa.Column("txn_at", TS, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("gross_vnd", sa.BigInteger(), nullable=False),
        sa.Column("fee_vnd", sa.BigInteger(), nullable=False),
        sa.Column("net_vnd", sa.BigInteger(), nullable=False),
        sa.Column("refund_vnd", sa.BigInteger(), nullable=False),
        sa.Column("settlement_date", sa.Date(), nullable=False),
        sa.UniqueConstraint("provider", "natural_key", name="uq_recon_settlement_lines_provider_key"),
    )
    op.create_index("ix_recon_settlement_lines_txn", "recon_settlement_lines", ["provider", "txn_id"])
    op.create_index("ix_recon_settlement_lines_settlement_date", "recon_settlement_lines", ["settlement_date"])
    op.create_table(
        "recon_settlement_batches",
        _ident(),
        sa.Column("file_id", UUID, sa.ForeignKey("recon_files.id"), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("batch_id", sa.Text(), nullable=False),
        sa.Column("settlement_date", sa.Date(), nullable=False),
        sa.Column("transfer_total_vnd", sa.BigInteger(), nullable=False),
        sa.Column("transfer_at", TS, nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.UniqueConstraint("provider", "batch_id", name="uq_recon_settlement_batches_provider_batch"),
    )
    op.create_table(
        "recon_runs",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("summary", postgresql.JSONB(), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, server_default=NOW, nullable=False),
        sa.UniqueConstraint("business_date", name="uq_recon_runs_business_date"),
    )
    op.create_table(
        "recon_matches",
        _ident(),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("source", sa.String(12), nullable=False),
        sa.Column("line_id", sa.BigInteger(), nullable=False),
        sa.Column("payment_id", UUID, nullable=True),
        sa.Column("intent_id", UUID, nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("tier", sa.String(8), nullable=False),
    )
    op.create_index("ix_recon_matches_business_date", "recon_matches", ["business_date"])
    op.create_index("ix_recon_matches_payment", "recon_matches", ["payment_id"])
    op.create_index("ix_recon_matches_line", "recon_matches", ["line_id"])
    op.create_table(
        "recon_discrepancies",
        _ident(),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("code", sa.String(24), nullable=False),
        sa.Column("provider", sa.String(32), nullable=True),
        sa.Column("lot_id", UUID, nullable=True),
        sa.Column("session_id", UUID, nullable=True),
        sa.Column("payment_id", UUID, nullable=True),
        sa.Column("intent_id", UUID, nullable=True),
        sa.Column("statement_line_id", sa.BigInteger(), nullable=True),
        sa.Column("settlement_line_id", sa.BigInteger(), nullable=True),
        sa.Column("expected_vnd", sa.BigInteger(), nullable=True),
        sa.Column("actual_vnd", sa.BigInteger(), nullable=True),
        sa.Column("evidence", postgresql.JSONB(), nullable=False),
        sa.Column("action_vi", sa.Text(), nullable=False),
        sa.Column("action_en", sa.Text(), nullable=False),
    )
    op.create_index("ix_recon_discrepancies_date_code", "recon_discrepancies", ["business_date", "code"])
    op.create_table(
        "recon_healing",
        _ident(),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("payment_id", UUID, nullable=True),
        sa.Column("session_id", UUID, nullable=True),
        sa.Column("detail", postgresql.JSONB(), nullable=False),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
        sa.UniqueConstraint("action", "subject", name="uq_recon_healing_action_subject"),
    )
    op.create_index("ix_recon_healing_business_date", "recon_healing", ["business_date"])
    op.create_table(
        "recon_refund_proposals",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("statement_line_id", sa.BigInteger(), nullable=False),
        sa.Column("payment_id", UUID, sa.ForeignKey("payments.id"), nullable=False),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("refund_id", UUID, nullable=True),
        sa.Column("decided_by", sa.Text(), nullable=True),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
        sa.Column("decided_at", TS, nullable=True),
        sa.UniqueConstraint("statement_line_id", name="uq_recon_refund_proposals_statement_line_id"),
    )


def downgrade() -> None:
    for t in (
        "recon_refund_proposals",
        "recon_healing",
        "recon_discrepancies",
        "recon_matches",
        "recon_runs",
        "recon_settlement_batches",
        "recon_settlement_lines",
        "recon_statement_lines",
        "recon_files",
    ):
        op.drop_table(t)
    op.drop_index("ix_payment_intents_created_at", "payment_intents")
    op.drop_index("ix_payments_intent_id", "payments")
    op.drop_index("ix_payments_confirmed_at", "payments")
