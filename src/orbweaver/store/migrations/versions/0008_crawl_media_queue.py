"""crawl: the media queue on the local store (media URLs waiting for a media worker)

Revision ID: 0008_media_queue
Revises: 0007
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_media_queue"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "crawl_media_queue",
        sa.Column("id", _ID, nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("page_url", sa.Text(), nullable=True),
        sa.Column("via_tor", sa.Boolean(), nullable=False),
        sa.Column("passwords", sa.JSON(), nullable=False),
        sa.Column("enqueued_at", sa.DateTime(), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crawl_media_queue")),
    )
    op.create_index(
        op.f("ix_crawl_media_queue_lease_until"),
        "crawl_media_queue",
        ["lease_until"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_crawl_media_queue_lease_until"), table_name="crawl_media_queue")
    op.drop_table("crawl_media_queue")
