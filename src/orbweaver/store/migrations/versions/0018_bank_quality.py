"""bank quality (issue 17): negative banks, per-type distances, disabled and quarantined
entries, held detections

Revision ID: 0018_bank_quality
Revises: 0017_wellbeing_policy
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_bank_quality"
down_revision: str | Sequence[str] | None = "0017_wellbeing_policy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("bank") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="positive")
        )
        batch.add_column(sa.Column("distances", sa.JSON(), nullable=True))
    with op.batch_alter_table("bank_entry") as batch:
        batch.add_column(sa.Column("disabled_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("disabled_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("quarantined_at", sa.DateTime(), nullable=True))
    off = sa.text("disabled_at IS NOT NULL OR quarantined_at IS NOT NULL")
    op.create_index(
        "ix_bank_entry_off", "bank_entry", ["id"], postgresql_where=off, sqlite_where=off
    )
    with op.batch_alter_table("detection") as batch:
        batch.add_column(sa.Column("held", sa.Boolean(), nullable=False, server_default=sa.false()))

    with op.batch_alter_table("notice_item") as batch:
        batch.add_column(sa.Column("explanation", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notice_item") as batch:
        batch.drop_column("explanation")
    with op.batch_alter_table("detection") as batch:
        batch.drop_column("held")
    op.drop_index("ix_bank_entry_off", table_name="bank_entry")
    with op.batch_alter_table("bank_entry") as batch:
        batch.drop_column("quarantined_at")
        batch.drop_column("disabled_reason")
        batch.drop_column("disabled_at")
    with op.batch_alter_table("bank") as batch:
        batch.drop_column("distances")
        batch.drop_column("kind")
