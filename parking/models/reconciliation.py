"""Reconciliation: imported bank statements and settlement reports (raw lines kept), runs, matches,
discrepancies, healing steps and refund proposals (migration 0020)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from parking.models.base import Base, now_col, uuid_pk


class ReconFile(Base):
    """One imported file; the same bytes imported again are recognised by their hash."""

    __tablename__ = "recon_files"
    id: Mapped[uuid.UUID] = uuid_pk()
    provider: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))  # bank_statement | settlement
    preset: Mapped[str | None] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    lines: Mapped[int] = mapped_column(Integer)
    new_lines: Mapped[int] = mapped_column(Integer)
    # the file's cut-off when it was exported during its day (NULL: it covers the whole day)
    covers_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    imported_at: Mapped[datetime] = now_col()

    __table_args__ = (UniqueConstraint("provider", "kind", "sha256", name="uq_recon_files_provider_kind_sha256"),)


class StatementLine(Base):
    """A line of the operator's bank statement ("sổ phụ"), parsed, with the raw line and its hash."""

    __tablename__ = "recon_statement_lines"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    file_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("recon_files.id"))
    provider: Mapped[str] = mapped_column(String(32))
    natural_key: Mapped[str] = mapped_column(Text)
    line_no: Mapped[int] = mapped_column(Integer)
    raw: Mapped[str] = mapped_column(Text)
    raw_hash: Mapped[str] = mapped_column(String(64))
    booked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    business_date: Mapped[date] = mapped_column(Date)
    direction: Mapped[str] = mapped_column(String(6))  # credit | debit
    amount_vnd: Mapped[int] = mapped_column(BigInteger)  # positive; the direction says which way
    balance_vnd: Mapped[int | None] = mapped_column(BigInteger)
    bank_ref: Mapped[str | None] = mapped_column(Text)
    narrative: Mapped[str] = mapped_column(Text)
    payer_account: Mapped[str | None] = mapped_column(Text)
    tokens: Mapped[list[str]] = mapped_column(ARRAY(Text))
    partial_tokens: Mapped[list[str]] = mapped_column(ARRAY(Text))

    __table_args__ = (
        UniqueConstraint("provider", "natural_key", name="uq_recon_statement_lines_provider_key"),
        Index("ix_recon_statement_lines_business_date", "business_date"),
    )


class SettlementLine(Base):
    """A line of an intermediary's settlement report ("đối soát"): a payment or a refund."""

    __tablename__ = "recon_settlement_lines"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    file_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("recon_files.id"))
    provider: Mapped[str] = mapped_column(String(32))
    natural_key: Mapped[str] = mapped_column(Text)
    line_no: Mapped[int] = mapped_column(Integer)
    raw: Mapped[str] = mapped_column(Text)
    raw_hash: Mapped[str] = mapped_column(String(64))
    batch_id: Mapped[str] = mapped_column(Text)
    txn_id: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(8))  # payment | refund
    reference: Mapped[str | None] = mapped_column(Text)
    txn_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))  # success | failed | pending
    gross_vnd: Mapped[int] = mapped_column(BigInteger)
    fee_vnd: Mapped[int] = mapped_column(BigInteger)
    net_vnd: Mapped[int] = mapped_column(BigInteger)
    refund_vnd: Mapped[int] = mapped_column(BigInteger)
    settlement_date: Mapped[date] = mapped_column(Date)

    __table_args__ = (
        UniqueConstraint("provider", "natural_key", name="uq_recon_settlement_lines_provider_key"),
        Index("ix_recon_settlement_lines_txn", "provider", "txn_id"),
        Index("ix_recon_settlement_lines_settlement_date", "settlement_date"),
    )


class SettlementBatch(Base):
    """The day's transfer from the intermediary to the operator, as its settlement report states it."""

    __tablename__ = "recon_settlement_batches"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    file_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("recon_files.id"))
    provider: Mapped[str] = mapped_column(String(32))
    batch_id: Mapped[str] = mapped_column(Text)
    settlement_date: Mapped[date] = mapped_column(Date)
    transfer_total_vnd: Mapped[int] = mapped_column(BigInteger)
    transfer_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    raw: Mapped[str] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("provider", "batch_id", name="uq_recon_settlement_batches_provider_batch"),)


class ReconRun(Base):
    """The last completed run of a business day (a re-run replaces its results in one transaction)."""

    __tablename__ = "recon_runs"
    id: Mapped[uuid.UUID] = uuid_pk()
    business_date: Mapped[date] = mapped_column(Date, unique=True)
    trigger: Mapped[str] = mapped_column(String(16))  # schedule | catch_up | cli | api | demo
    runs: Mapped[int] = mapped_column(Integer, default=1)
    summary: Mapped[dict[str, Any]] = mapped_column(JSONB)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime] = now_col()


class ReconMatch(Base):
    """A statement or settlement line matched to what we expected (a payment and/or a VietQR intent)."""

    __tablename__ = "recon_matches"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    business_date: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(12))  # statement | settlement
    line_id: Mapped[int] = mapped_column(BigInteger)
    payment_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    intent_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    outcome: Mapped[str] = mapped_column(String(16))
    tier: Mapped[str] = mapped_column(String(8))

    __table_args__ = (
        Index("ix_recon_matches_business_date", "business_date"),
        Index("ix_recon_matches_line", "line_id"),  # healing updates a match by its line
    )


class Discrepancy(Base):
    __tablename__ = "recon_discrepancies"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    business_date: Mapped[date] = mapped_column(Date)
    code: Mapped[str] = mapped_column(String(24))
    provider: Mapped[str | None] = mapped_column(String(32))
    lot_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    session_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    payment_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    intent_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    statement_line_id: Mapped[int | None] = mapped_column(BigInteger)
    settlement_line_id: Mapped[int | None] = mapped_column(BigInteger)
    expected_vnd: Mapped[int | None] = mapped_column(BigInteger)
    actual_vnd: Mapped[int | None] = mapped_column(BigInteger)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONB)
    action_vi: Mapped[str] = mapped_column(Text)
    action_en: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_recon_discrepancies_date_code", "business_date", "code"),)


class HealingStep(Base):
    """One self-healing action; (action, subject) is unique, so a re-run never heals twice."""

    __tablename__ = "recon_healing"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    business_date: Mapped[date] = mapped_column(Date)
    action: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(Text)
    payment_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    session_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = now_col()

    __table_args__ = (
        UniqueConstraint("action", "subject", name="uq_recon_healing_action_subject"),
        Index("ix_recon_healing_business_date", "business_date"),
    )


class RefundProposal(Base):
    """A duplicate credit to give back: executed at once under the operator's limit, else awaiting finance."""

    __tablename__ = "recon_refund_proposals"
    id: Mapped[uuid.UUID] = uuid_pk()
    business_date: Mapped[date] = mapped_column(Date)
    statement_line_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id"))
    amount_vnd: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20))  # executed | awaiting_approval | rejected
    refund_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    decided_by: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = now_col()
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DiscrepancyResolution(Base):
    """A person's explanation of a discrepancy (issue 11.3, migration 0080).

    Kept apart from ``recon_discrepancies`` because a re-run of the day deletes and re-inserts those rows (new
    ids): the explanation is keyed by what the discrepancy is about (its class and its subject: the statement or
    settlement line, the payment, the batch, the lot), so it survives a re-run. Per operator: a row tied to no lot
    (money for no known session) is seen by every operator's finance, and one's note is not another's.
    """

    __tablename__ = "recon_resolutions"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    operator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("operators.id"))
    business_date: Mapped[date] = mapped_column(Date)
    code: Mapped[str] = mapped_column(String(24))
    subject: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # explained
    note: Mapped[str] = mapped_column(Text)
    resolved_by: Mapped[str] = mapped_column(Text)
    resolved_at: Mapped[datetime] = now_col()

    __table_args__ = (
        UniqueConstraint(
            "operator_id", "business_date", "code", "subject", name="uq_recon_resolutions_operator_date_code_subject"
        ),
    )
