"""The double-entry ledger: one entry, balanced postings (migration 0002).

Entries and postings are partitioned by month on the entry's UUIDv7 id (migration 0070); the idempotency key's
uniqueness across months lives in ``ledger_entry_keys``, claimed by a trigger on insert.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Identity, String, Text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from parking.models.base import Base, now_col, uuid7_pk


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    id: Mapped[uuid.UUID] = uuid7_pk()
    kind: Mapped[str] = mapped_column(String(16))
    # Unique through ledger_entry_keys: an insert whose key is taken is skipped by the trigger.
    idempotency_key: Mapped[str] = mapped_column(String(128), index=True)
    session_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    payment_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    reverses_key: Mapped[str | None] = mapped_column(String(128))
    memo: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = now_col()

    __table_args__ = ({"postgresql_partition_by": "RANGE (id)"},)


class LedgerEntryKey(Base):
    """One row per idempotency key ever posted (unpartitioned, append-only): the ledger's exactly-once guard."""

    __tablename__ = "ledger_entry_keys"
    idempotency_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))


class LedgerPosting(Base):
    __tablename__ = "ledger_postings"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # Partitioned with its entry (same UUIDv7 ranges): the primary key must include entry_id.
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_entries.id"), index=True, primary_key=True)
    account: Mapped[str] = mapped_column(String(80), index=True)
    amount_vnd: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = ({"postgresql_partition_by": "RANGE (entry_id)"},)
