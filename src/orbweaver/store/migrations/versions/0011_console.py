"""console (issue 20): a per-user switch for single-key shortcuts, and skipped/deferred items

Revision ID: 0011_console
Revises: 0010_merge
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_console"
down_revision: str | Sequence[str] | None = "0010_merge"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "review_user",
        sa.Column("shortcuts", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.create_table(
        "review_skip",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("until", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["review_item.id"], name=op.f("fk_review_skip_item_id_review_item")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["review_user.id"], name=op.f("fk_review_skip_user_id_review_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_skip")),
        sa.UniqueConstraint("item_id", "user_id", name=op.f("uq_review_skip_item_id")),
    )
    op.create_index(op.f("ix_review_skip_user_id"), "review_skip", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_review_skip_user_id"), table_name="review_skip")
    op.drop_table("review_skip")
    with op.batch_alter_table("review_user") as batch:
        batch.drop_column("shortcuts")
