"""crawl: media queue entries count the batches the store refused; dead letters set aside

Revision ID: 0019_media_dead_letter
Revises: 0018_bank_quality
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_media_dead_letter"
down_revision: str | Sequence[str] | None = "0018_bank_quality"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column(
        "crawl_media_queue",
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("crawl_media_queue", sa.Column("last_error", sa.Text(), nullable=True))
    op.create_table(
        "crawl_media_dead",
        sa.Column("id", _ID, nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("page_url", sa.Text(), nullable=True),
        sa.Column("via_tor", sa.Boolean(), nullable=False),
        sa.Column("passwords", sa.JSON(), nullable=False),
        sa.Column("enqueued_at", sa.DateTime(), nullable=False),
        sa.Column("dead_at", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crawl_media_dead")),
    )


def downgrade() -> None:
    op.drop_table("crawl_media_dead")
    with op.batch_alter_table("crawl_media_queue") as batch:
        batch.drop_column("last_error")
        batch.drop_column("attempts")
