"""exchanges (issue 17): bank entries' member, tags and withdrawal; exchanges' checkpoints,
their entries, and analysts' feedback on them

Revision ID: 0020_exchanges
Revises: 0019_media_dead_letter
Create Date: 2026-12-04

Additive only. `bank_entry` gains `member` (who shared it at its source), `tags` (a JSON list:
the source's labels) and `removed_at` (withdrawn by its source, kept for the detections that
name it). Existing entries get no member, no tags and are not withdrawn. The partial index of
entries that match nothing (`ix_bank_entry_off`, 0018) takes withdrawn entries in too, so every
matcher's refresh finds them without a scan.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_exchanges"
down_revision: str | Sequence[str] | None = "0019_media_dead_letter"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("bank_entry") as batch:
        batch.add_column(
            sa.Column("member", sa.String(length=200), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("tags", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("removed_at", sa.DateTime(), nullable=True))
    _off_index("disabled_at IS NOT NULL OR quarantined_at IS NOT NULL OR removed_at IS NOT NULL")
    op.create_table(
        "exchange",
        sa.Column("id", Id, primary_key=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("bank_id", Id, sa.ForeignKey("bank.id"), nullable=False),
        sa.Column("checkpoint", sa.JSON(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(), nullable=True),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("error_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("name", name="uq_exchange_name"),
    )
    op.create_index("ix_exchange_bank_id", "exchange", ["bank_id"])
    op.create_table(
        "exchange_entry",
        sa.Column("id", Id, primary_key=True),
        sa.Column("exchange_id", Id, sa.ForeignKey("exchange.id"), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("signal_type", sa.String(length=16), nullable=False),
        sa.Column("bank_entry_id", Id, sa.ForeignKey("bank_entry.id"), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("fingerprint_type", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_exchange_entry_external", "exchange_entry", ["exchange_id", "external_id"])
    op.create_index("ix_exchange_entry_bank_entry_id", "exchange_entry", ["bank_entry_id"])
    op.create_table(
        "exchange_vote",
        sa.Column("id", Id, primary_key=True),
        sa.Column("bank_entry_id", Id, sa.ForeignKey("bank_entry.id"), nullable=False),
        sa.Column("exchange_id", Id, sa.ForeignKey("exchange.id"), nullable=True),
        sa.Column("vote", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
    )
    op.create_index("ix_exchange_vote_bank_entry_id", "exchange_vote", ["bank_entry_id"])
    op.create_index("ix_exchange_vote_status", "exchange_vote", ["status"])


def downgrade() -> None:
    op.drop_table("exchange_vote")
    op.drop_table("exchange_entry")
    op.drop_table("exchange")
    _off_index("disabled_at IS NOT NULL OR quarantined_at IS NOT NULL")
    with op.batch_alter_table("bank_entry") as batch:
        batch.drop_column("removed_at")
        batch.drop_column("tags")
        batch.drop_column("member")


def _off_index(where: str) -> None:
    """Recreate the partial index of the entries every matcher refresh reads (see models)."""
    op.drop_index("ix_bank_entry_off", table_name="bank_entry")
    off = sa.text(where)
    op.create_index(
        "ix_bank_entry_off", "bank_entry", ["id"], postgresql_where=off, sqlite_where=off
    )
