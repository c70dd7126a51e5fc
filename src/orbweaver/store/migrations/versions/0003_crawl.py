"""crawl: seeds (incl. public reports) and pages on the re-crawl schedule

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-29 13:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("crawl",)
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "crawl_seed",
        sa.Column("id", _ID, nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("url_hash", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("reporter", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crawl_seed")),
        sa.UniqueConstraint("url_hash", name=op.f("uq_crawl_seed_url_hash")),
    )
    op.create_index(op.f("ix_crawl_seed_source"), "crawl_seed", ["source"], unique=False)
    op.create_index(op.f("ix_crawl_seed_fetched_at"), "crawl_seed", ["fetched_at"], unique=False)
    op.create_table(
        "crawl_page",
        sa.Column("id", _ID, nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("url_hash", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("network", sa.String(length=8), nullable=False),
        sa.Column("reached_from_tor", sa.Boolean(), nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("media_links", sa.Integer(), nullable=False),
        sa.Column("crawl_count", sa.Integer(), nullable=False),
        sa.Column("first_crawled_at", sa.DateTime(), nullable=False),
        sa.Column("last_crawled_at", sa.DateTime(), nullable=False),
        sa.Column("next_crawl_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crawl_page")),
        sa.UniqueConstraint("url_hash", name=op.f("uq_crawl_page_url_hash")),
    )
    op.create_index(op.f("ix_crawl_page_host"), "crawl_page", ["host"], unique=False)
    op.create_index(
        op.f("ix_crawl_page_next_crawl_at"), "crawl_page", ["next_crawl_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_crawl_page_next_crawl_at"), table_name="crawl_page")
    op.drop_index(op.f("ix_crawl_page_host"), table_name="crawl_page")
    op.drop_table("crawl_page")
    op.drop_index(op.f("ix_crawl_seed_fetched_at"), table_name="crawl_seed")
    op.drop_index(op.f("ix_crawl_seed_source"), table_name="crawl_seed")
    op.drop_table("crawl_seed")
