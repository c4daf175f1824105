"""invoices: cash-register e-invoice series (gapless counter), invoices, status history

Revision ID: 0003
Revises: 0002
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UUID = postgresql.UUID(as_uuid=True)
TS = sa.DateTime(timezone=True)
NOW = sa.text("now()")

# Columns of an issued invoice that no UPDATE may change: corrections are adjustment or replacement
# invoices, never edits (Decree 123 Art. 19). Status, attempts and the signed envelope may change.
FROZEN = ("id", "kind", "series_id", "seq", "mccqt", "operator_id", "payment_id", "refund_id",
          "related_invoice_id", "session_id", "plate", "issued_at", "total_vnd", "net_vnd", "vat_vnd",
          "vat_rate_bp", "buyer_name", "buyer_tax_code", "buyer_address", "buyer_id_number", "buyer_phone",
          "xml", "mtdiep")


def upgrade() -> None:
    op.create_table(
        "invoice_series",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("operator_id", UUID, sa.ForeignKey("operators.id"), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column("template", sa.SmallInteger(), nullable=False),
        sa.Column("symbol", sa.String(6), nullable=False),
        sa.Column("series_code", sa.String(5), nullable=False),
        sa.Column("next_seq", sa.BigInteger(), nullable=False, server_default="1"),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
        sa.UniqueConstraint("operator_id", "year", name="uq_invoice_series_operator_year"),
        # MCCQT = M{type}-{YY}-{series_code}-{seq}: one counter per series code and year.
        sa.UniqueConstraint("series_code", "year", "template", name="uq_invoice_series_code_year"),
        sa.CheckConstraint("next_seq BETWEEN 1 AND 100000000", name="ck_invoice_series_seq_range"),
        sa.CheckConstraint("series_code ~ '^[A-Z0-9]{5}$'", name="ck_invoice_series_code_format"),
    )
    op.create_table(
        "invoices",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("series_id", UUID, sa.ForeignKey("invoice_series.id"), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("mccqt", sa.String(23), nullable=False),
        sa.Column("operator_id", UUID, sa.ForeignKey("operators.id"), nullable=False),
        sa.Column("payment_id", UUID, sa.ForeignKey("payments.id"), nullable=False),
        sa.Column("refund_id", UUID, sa.ForeignKey("refunds.id"), nullable=True),
        sa.Column("related_invoice_id", UUID, sa.ForeignKey("invoices.id"), nullable=True),
        sa.Column("session_id", UUID, nullable=True),
        sa.Column("driver_id", UUID, nullable=True),
        sa.Column("plate", sa.String(16), nullable=True),
        sa.Column("issued_at", TS, nullable=False),
        sa.Column("total_vnd", sa.BigInteger(), nullable=False),
        sa.Column("net_vnd", sa.BigInteger(), nullable=False),
        sa.Column("vat_vnd", sa.BigInteger(), nullable=False),
        sa.Column("vat_rate_bp", sa.Integer(), nullable=False),
        sa.Column("buyer_name", sa.Text(), nullable=True),
        sa.Column("buyer_tax_code", sa.String(14), nullable=True),
        sa.Column("buyer_address", sa.Text(), nullable=True),
        sa.Column("buyer_id_number", sa.String(12), nullable=True),
        sa.Column("buyer_phone", sa.String(16), nullable=True),
        sa.Column("xml", sa.Text(), nullable=False),
        sa.Column("mtdiep", sa.String(64), nullable=False),
        sa.Column("signed_envelope", sa.Text(), nullable=True),
        sa.Column("status", sa.String(10), nullable=False, server_default="issued"),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
        sa.Column("updated_at", TS, server_default=NOW, nullable=False),
        sa.UniqueConstraint("mccqt", name="uq_invoices_mccqt"),
        sa.UniqueConstraint("series_id", "seq", name="uq_invoices_series_seq"),
        sa.UniqueConstraint("mtdiep", name="uq_invoices_mtdiep"),
        sa.UniqueConstraint("refund_id", name="uq_invoices_refund_id"),
        sa.CheckConstraint("kind IN ('original','adjustment','replacement')", name="ck_invoices_kind"),
        sa.CheckConstraint("status IN ('issued','sent','accepted','rejected')", name="ck_invoices_status"),
        sa.CheckConstraint("net_vnd + vat_vnd = total_vnd", name="ck_invoices_adds_up"),
        sa.CheckConstraint(
            "(kind = 'original' AND related_invoice_id IS NULL AND refund_id IS NULL AND total_vnd >= 0)"
            " OR (kind = 'adjustment' AND related_invoice_id IS NOT NULL AND refund_id IS NOT NULL)"
            " OR (kind = 'replacement' AND related_invoice_id IS NOT NULL AND refund_id IS NULL)",
            name="ck_invoices_kind_links"),
    )
    # Exactly one original invoice per payment, and at most one replacement per invoice.
    op.create_index("uq_invoices_original_payment", "invoices", ["payment_id"], unique=True,
                    postgresql_where=sa.text("kind = 'original'"))
    op.create_index("uq_invoices_one_replacement", "invoices", ["related_invoice_id"], unique=True,
                    postgresql_where=sa.text("kind = 'replacement'"))
    op.create_index("ix_invoices_issued_at", "invoices", ["issued_at"])
    op.create_index("ix_invoices_driver", "invoices", ["driver_id", "issued_at"])
    op.create_index("ix_invoices_session", "invoices", ["session_id"])
    op.create_index("ix_invoices_pending", "invoices", ["status"],
                    postgresql_where=sa.text("status IN ('issued','sent')"))

    op.create_table(
        "invoice_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("invoice_id", UUID, sa.ForeignKey("invoices.id"), nullable=False, index=True),
        sa.Column("at", TS, server_default=NOW, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("detail", postgresql.JSONB(), nullable=False, server_default="{}"),
    )

    # Buyer details a driver saved for future invoices ("company invoice"); printed only if saved.
    op.create_table(
        "invoice_buyer_profiles",
        sa.Column("driver_id", UUID, sa.ForeignKey("drivers.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("tax_code", sa.String(14), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("id_number", sa.String(12), nullable=True),
        sa.Column("phone", sa.String(16), nullable=True),
        sa.Column("updated_at", TS, server_default=NOW, nullable=False),
    )

    # Invoices are never deleted and their content never changes; the history is append-only.
    changed = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in FROZEN)
    op.execute(f"""
        CREATE FUNCTION invoice_content_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                RAISE EXCEPTION 'invoices are never deleted (issue an adjustment)'
                    USING ERRCODE = 'integrity_constraint_violation';
            END IF;
            IF {changed} THEN
                RAISE EXCEPTION 'invoice % is immutable (issue an adjustment or replacement)', OLD.mccqt
                    USING ERRCODE = 'integrity_constraint_violation';
            END IF;
            RETURN NEW;
        END $$;
    """)
    op.execute("CREATE TRIGGER invoices_frozen BEFORE UPDATE OR DELETE ON invoices "
               "FOR EACH ROW EXECUTE FUNCTION invoice_content_frozen()")
    op.execute("CREATE TRIGGER invoices_no_truncate BEFORE TRUNCATE ON invoices "
               "FOR EACH STATEMENT EXECUTE FUNCTION forbid_change()")
    op.execute("CREATE TRIGGER invoice_events_append_only BEFORE UPDATE OR DELETE ON invoice_events "
               "FOR EACH ROW EXECUTE FUNCTION forbid_change()")
    op.execute("CREATE TRIGGER invoice_events_no_truncate BEFORE TRUNCATE ON invoice_events "
               "FOR EACH STATEMENT EXECUTE FUNCTION forbid_change()")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS invoice_events_no_truncate ON invoice_events")
    op.execute("DROP TRIGGER IF EXISTS invoice_events_append_only ON invoice_events")
    op.execute("DROP TRIGGER IF EXISTS invoices_no_truncate ON invoices")
    op.execute("DROP TRIGGER IF EXISTS invoices_frozen ON invoices")
    op.execute("DROP FUNCTION IF EXISTS invoice_content_frozen()")
    op.drop_table("invoice_buyer_profiles")
    op.drop_table("invoice_events")
    for ix in ("ix_invoices_pending", "ix_invoices_session", "ix_invoices_driver", "ix_invoices_issued_at",
               "uq_invoices_one_replacement", "uq_invoices_original_payment"):
        op.drop_index(ix, table_name="invoices")
    op.drop_table("invoices")
    op.drop_table("invoice_series")
