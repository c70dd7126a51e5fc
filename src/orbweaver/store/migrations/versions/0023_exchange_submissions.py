"""exchanges (issue 17): our own verdicts' entries published to exchanges that take them

Revision ID: 0023_exchange_submissions
Revises: 0022_crawl_errors
Create Date: 2026-12-05

Additive only. `exchange_submission` is the outbox of publication: one row per exchange and
bank entry of our own bank (the verdict's SHA-256 entry, which stands for the picture), queued
by the exchanges role (`pending`), sent once (`sent`, with the exchange's entry id) or given up
(`failed`). Unique per exchange and entry: a row is never queued twice.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_exchange_submissions"
down_revision: str | Sequence[str] | None = "0022_crawl_errors"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "exchange_submission",
        sa.Column("id", Id, primary_key=True),
        sa.Column("exchange_id", Id, sa.ForeignKey("exchange.id"), nullable=False),
        sa.Column("bank_entry_id", Id, sa.ForeignKey("bank_entry.id"), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint(
            "exchange_id", "bank_entry_id", name=op.f("uq_exchange_submission_exchange_id")
        ),
    )
    op.create_index("ix_exchange_submission_status", "exchange_submission", ["status"])
    op.create_index(
        "ix_exchange_submission_bank_entry_id", "exchange_submission", ["bank_entry_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_exchange_submission_bank_entry_id", table_name="exchange_submission")
    op.drop_index("ix_exchange_submission_status", table_name="exchange_submission")
    op.drop_table("exchange_submission")
