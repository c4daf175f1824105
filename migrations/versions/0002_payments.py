"""payments: drivers, linked methods, passes, payment intents (VietQR), payments, refunds, debts,
append-only double-entry ledger, inbound notification log

Revision ID: 0002
Revises: 0001
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UUID = postgresql.UUID(as_uuid=True)
TS = sa.DateTime(timezone=True)
NOW = sa.text("now()")


def _id() -> sa.Column:
    return sa.Column("id", UUID, primary_key=True)


def _created() -> sa.Column:
    return sa.Column("created_at", TS, server_default=NOW, nullable=False)


def upgrade() -> None:
    op.create_table(
        "drivers",
        _id(),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("full_name", sa.Text(), nullable=False, server_default=""),
        sa.Column("phone", sa.String(20), nullable=False, server_default=""),
        sa.Column("password_hash", sa.Text(), nullable=False),
        # Ceiling on what may be owed through background charges and unpaid exits.
        sa.Column("deferred_limit_vnd", sa.BigInteger(), nullable=False, server_default="300000"),
        _created(),
        sa.UniqueConstraint("email", name="uq_drivers_email"),
        sa.CheckConstraint("deferred_limit_vnd >= 0", name="ck_drivers_limit_nonnegative"),
    )
    op.create_table(
        "driver_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),  # SHA-256 of a random 256-bit token
        sa.Column("driver_id", UUID, sa.ForeignKey("drivers.id", ondelete="CASCADE"), nullable=False, index=True),
        _created(),
        sa.Column("expires_at", TS, nullable=False),
    )
    op.create_table(
        "driver_vehicles",
        _id(),
        sa.Column("driver_id", UUID, sa.ForeignKey("drivers.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("plate", sa.String(16), nullable=False),  # normalised A-Z0-9, as parking_sessions.plate
        sa.Column("vehicle_class", sa.String(16), nullable=False),
        _created(),
        # A plate is linked to one driver at a time: the exit must know whom to charge.
        sa.UniqueConstraint("plate", name="uq_driver_vehicles_plate"),
    )
    op.create_table(
        "payment_methods",
        _id(),
        sa.Column("driver_id", UUID, sa.ForeignKey("drivers.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),  # the provider's token; we never hold account numbers
        sa.Column("label", sa.Text(), nullable=False, server_default=""),
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        _created(),
        sa.CheckConstraint("kind IN ('bank_account','ewallet')", name="ck_payment_methods_kind"),
        sa.CheckConstraint("status IN ('active','revoked')", name="ck_payment_methods_status"),
    )
    op.create_index("uq_payment_methods_one_active", "payment_methods", ["driver_id"], unique=True,
                    postgresql_where=sa.text("status = 'active'"))
    op.create_table(
        "payments",
        _id(),
        sa.Column("session_id", UUID, sa.ForeignKey("parking_sessions.id"), nullable=True, index=True),
        sa.Column("driver_id", UUID, sa.ForeignKey("drivers.id"), nullable=True, index=True),
        sa.Column("intent_id", UUID, nullable=True),
        sa.Column("purpose", sa.String(16), nullable=False, server_default="session"),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("refunded_vnd", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("provider_txn_id", sa.Text(), nullable=True),
        sa.Column("idempotency_key", sa.String(128), nullable=True),
        sa.Column("lane_id", UUID, nullable=True),
        sa.Column("lane_waiting", sa.Boolean(), nullable=False, server_default="false"),
        sa.Column("failure_code", sa.Text(), nullable=True),
        sa.Column("flags", postgresql.ARRAY(sa.Text()), nullable=False, server_default="{}"),
        sa.Column("raw", postgresql.JSONB(), nullable=True),
        sa.Column("confirmed_at", TS, nullable=True),
        _created(),
        sa.UniqueConstraint("provider", "provider_txn_id", name="uq_payments_provider_txn"),
        sa.UniqueConstraint("idempotency_key", name="uq_payments_idempotency_key"),
        sa.CheckConstraint("amount_vnd >= 0", name="ck_payments_amount_nonnegative"),
        sa.CheckConstraint("refunded_vnd >= 0 AND refunded_vnd <= amount_vnd", name="ck_payments_refund_range"),
        sa.CheckConstraint(
            "status IN ('pending','confirmed','failed','refunded','partially_refunded')",
            name="ck_payments_status"),
        sa.CheckConstraint("method IN ('linked','vietqr')", name="ck_payments_method"),
        sa.CheckConstraint("purpose IN ('session','debt','pass','orphan')", name="ck_payments_purpose"),
    )
    op.create_table(
        "payment_intents",
        _id(),
        sa.Column("session_id", UUID, sa.ForeignKey("parking_sessions.id"), nullable=True, index=True),
        sa.Column("debt_id", UUID, nullable=True),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("reference", sa.String(25), nullable=False),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("lane_id", UUID, nullable=True),
        sa.Column("qr_payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="open"),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("paid_payment_id", UUID, sa.ForeignKey("payments.id"), nullable=True),
        _created(),
        sa.UniqueConstraint("reference", name="uq_payment_intents_reference"),
        sa.CheckConstraint("amount_vnd > 0", name="ck_payment_intents_amount_positive"),
        sa.CheckConstraint("status IN ('open','paid','expired','cancelled')", name="ck_payment_intents_status"),
        sa.CheckConstraint("purpose IN ('session','debt')", name="ck_payment_intents_purpose"),
    )
    # One live QR per session: a repeated exit event shows the same QR, never a second one.
    op.create_index("uq_payment_intents_open_session", "payment_intents", ["session_id"], unique=True,
                    postgresql_where=sa.text("status = 'open' AND purpose = 'session'"))
    op.create_table(
        "refunds",
        _id(),
        sa.Column("payment_id", UUID, sa.ForeignKey("payments.id"), nullable=False, index=True),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("provider_refund_id", sa.Text(), nullable=True),
        _created(),
        sa.CheckConstraint("amount_vnd > 0", name="ck_refunds_amount_positive"),
        sa.CheckConstraint("length(reason) > 0", name="ck_refunds_reason_given"),
    )
    op.create_table(
        "debts",
        _id(),
        sa.Column("session_id", UUID, sa.ForeignKey("parking_sessions.id"), nullable=False),
        sa.Column("lot_id", UUID, sa.ForeignKey("lots.id"), nullable=False),
        sa.Column("plate", sa.String(16), nullable=True, index=True),
        sa.Column("driver_id", UUID, sa.ForeignKey("drivers.id"), nullable=True, index=True),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="open"),
        sa.Column("settled_payment_id", UUID, sa.ForeignKey("payments.id"), nullable=True),
        sa.Column("settled_at", TS, nullable=True),
        _created(),
        sa.UniqueConstraint("session_id", name="uq_debts_session_id"),
        sa.CheckConstraint("amount_vnd > 0", name="ck_debts_amount_positive"),
        sa.CheckConstraint("status IN ('open','paid','written_off')", name="ck_debts_status"),
    )
    op.create_table(
        "passes",
        _id(),
        sa.Column("driver_id", UUID, sa.ForeignKey("drivers.id"), nullable=False, index=True),
        sa.Column("plate", sa.String(16), nullable=False),
        sa.Column("lot_id", UUID, sa.ForeignKey("lots.id"), nullable=False),
        sa.Column("vehicle_class", sa.String(16), nullable=False),
        sa.Column("band", sa.String(8), nullable=False, server_default="all"),
        sa.Column("valid_from", TS, nullable=False),
        sa.Column("valid_until", TS, nullable=False),  # exclusive
        sa.Column("price_vnd", sa.BigInteger(), nullable=False),
        sa.Column("payment_id", UUID, sa.ForeignKey("payments.id"), nullable=True),
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        _created(),
        sa.CheckConstraint("valid_until > valid_from", name="ck_passes_validity"),
        sa.CheckConstraint("band IN ('day','night','all')", name="ck_passes_band"),
        sa.CheckConstraint("status IN ('active','cancelled')", name="ck_passes_status"),
    )
    op.create_index("ix_passes_plate_lot", "passes", ["plate", "lot_id", "valid_until"])
    op.create_table(
        "payment_notifications",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("provider_txn_id", sa.Text(), nullable=True),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("payment_id", UUID, nullable=True),
        sa.Column("payload", postgresql.JSONB(), nullable=False),
        sa.Column("received_at", TS, server_default=NOW, nullable=False),
    )
    op.create_table(
        "ledger_entries",
        _id(),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("session_id", UUID, nullable=True, index=True),
        sa.Column("payment_id", UUID, nullable=True, index=True),
        sa.Column("reverses_key", sa.String(128), nullable=True),
        sa.Column("memo", sa.Text(), nullable=False, server_default=""),
        _created(),
        sa.UniqueConstraint("idempotency_key", name="uq_ledger_entries_idempotency_key"),
    )
    op.create_table(
        "ledger_postings",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("entry_id", UUID, sa.ForeignKey("ledger_entries.id"), nullable=False, index=True),
        sa.Column("account", sa.String(80), nullable=False, index=True),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("amount_vnd <> 0", name="ck_ledger_postings_nonzero"),
    )
    # Append-only: forbid_change() comes from 0001. Corrections are reversing entries.
    for table in ("ledger_entries", "ledger_postings", "payment_notifications"):
        op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION forbid_change()")
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION forbid_change()")
    # Double entry checked by the database at commit: every entry's postings sum to zero.
    op.execute("""
        CREATE FUNCTION ledger_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE total bigint; n int;
        BEGIN
            SELECT coalesce(sum(amount_vnd), 0), count(*) INTO total, n
              FROM ledger_postings WHERE entry_id = NEW.entry_id;
            IF total <> 0 OR n < 2 THEN
                RAISE EXCEPTION 'ledger entry % is unbalanced (sum %, % postings)', NEW.entry_id, total, n
                    USING ERRCODE = 'integrity_constraint_violation';
            END IF;
            RETURN NULL;
        END $$;
    """)
    op.execute("CREATE CONSTRAINT TRIGGER ledger_postings_balanced AFTER INSERT ON ledger_postings "
               "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_entry_balanced()")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS ledger_postings_balanced ON ledger_postings")
    op.execute("DROP FUNCTION IF EXISTS ledger_entry_balanced()")
    for table in ("ledger_entries", "ledger_postings", "payment_notifications"):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    for table in ("ledger_postings", "ledger_entries", "payment_notifications", "passes", "debts", "refunds"):
        op.drop_table(table)
    op.drop_index("uq_payment_intents_open_session", table_name="payment_intents")
    op.drop_table("payment_intents")
    op.drop_table("payments")
    op.drop_index("uq_payment_methods_one_active", table_name="payment_methods")
    for table in ("payment_methods", "driver_vehicles", "driver_tokens", "drivers"):
        op.drop_table(table)
