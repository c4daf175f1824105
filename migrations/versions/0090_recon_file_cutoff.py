"""A bank file exported during its day covers only up to its cut-off (issue 10, the demo's exact day).

`recon_files.covers_until`: the moment the file was cut (NULL: the whole day). A day is reconciled up to the
cut-off its files cover, so a payment made after the bank's export is not taken for one missing at the bank.

Revision ID: 0090
Revises: 0060
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0090"
down_revision = "0070"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("recon_files", sa.Column("covers_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("recon_files", "covers_until")
