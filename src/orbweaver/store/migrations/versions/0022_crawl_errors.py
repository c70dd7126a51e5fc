"""console (issue 20): crawl failures per kind and UTC day, for the console's crawl page

Revision ID: 0022_crawl_errors
Revises: 0021_video_signals_compact
Create Date: 2026-12-05

The crawl's processes counted failures only in their Prometheus metrics, gone with the process;
`crawl_error_day` keeps them per day (an upsert by the store writer with each batch).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_crawl_errors"
down_revision: str | Sequence[str] | None = "0021_video_signals_compact"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "crawl_error_day",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "kind", name=op.f("pk_crawl_error_day")),
    )


def downgrade() -> None:
    op.drop_table("crawl_error_day")
