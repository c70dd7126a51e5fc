"""review items: a short claim (lease) so analysts asking "next" together get different items

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("review_item", sa.Column("claimed_by", sa.Integer(), nullable=True))
    op.add_column("review_item", sa.Column("claimed_until", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("review_item") as batch:
        batch.drop_column("claimed_until")
        batch.drop_column("claimed_by")
