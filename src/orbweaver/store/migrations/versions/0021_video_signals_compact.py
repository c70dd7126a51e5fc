"""compact vPDQ (issue 16): the frame hashes of every video the crawl fetched

Revision ID: 0021_video_signals_compact
Revises: 0020_exchanges
Create Date: 2026-12-04

`media_video_block` keeps, beside `media_signal_block`'s 64 bytes a media, each crawled video's
vPDQ frames (37 bytes a frame), so a video list that grows is matched against what the crawl saw.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_video_signals_compact"
down_revision: str | Sequence[str] | None = "0020_exchanges"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "media_video_block",
        sa.Column("id", _ID, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("compacted", sa.Boolean(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("lo", sa.LargeBinary(), nullable=False),
        sa.Column("hi", sa.LargeBinary(), nullable=False),
        sa.Column("records", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_video_block")),
    )
    op.create_index(op.f("ix_media_video_block_created_at"), "media_video_block", ["created_at"])
    op.create_index(op.f("ix_media_video_block_lo"), "media_video_block", ["lo"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE media_video_block ALTER COLUMN records SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.drop_index(op.f("ix_media_video_block_lo"), table_name="media_video_block")
    op.drop_index(op.f("ix_media_video_block_created_at"), table_name="media_video_block")
    op.drop_table("media_video_block")
