"""casework (issue 19): the re-check before the first notice, holds, held time, evidence

Revision ID: 0014_casework
Revises: 0013_compact_storage
Create Date: 2026-12-04

Notices that existed before this revision count as re-checked (their first notice was planned
or sent without one), so nothing already queued waits for a re-check it never needed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_casework"
down_revision: str | Sequence[str] | None = "0013_compact_storage"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("notice", sa.Column("prechecked_at", sa.DateTime(), nullable=True))
    op.add_column(
        "notice",
        sa.Column("precheck_tries", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column(
        "notice",
        sa.Column("held_seconds", sa.Float(), nullable=False, server_default="0"),
    )
    op.execute("UPDATE notice SET prechecked_at = created_at")
    op.create_table(
        "hold",
        sa.Column("id", Id, primary_key=True),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("released_by", sa.String(length=255), nullable=True),
        sa.Column("released_at", sa.DateTime(), nullable=True),
        sa.Column("legal", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hold")),
    )
    op.create_index(op.f("ix_hold_released_at"), "hold", ["released_at"])
    op.create_table(
        "evidence_record",
        sa.Column("id", Id, primary_key=True),
        sa.Column("sighting_id", Id, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("captured_at", sa.DateTime(), nullable=False),
        sa.Column("warc", sa.LargeBinary(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("pruned_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["sighting_id"],
            ["sighting.id"],
            name=op.f("fk_evidence_record_sighting_id_sighting"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_record")),
    )
    op.create_index(op.f("ix_evidence_record_sighting_id"), "evidence_record", ["sighting_id"])
    op.create_index(op.f("ix_evidence_record_captured_at"), "evidence_record", ["captured_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_evidence_record_captured_at"), table_name="evidence_record")
    op.drop_index(op.f("ix_evidence_record_sighting_id"), table_name="evidence_record")
    op.drop_table("evidence_record")
    op.drop_index(op.f("ix_hold_released_at"), table_name="hold")
    op.drop_table("hold")
    with op.batch_alter_table("notice") as batch:
        batch.drop_column("held_seconds")
        batch.drop_column("precheck_tries")
        batch.drop_column("prechecked_at")
