"""console (issue 20): the hosting country of an attributed host, for the report's breakdown

Revision ID: 0016_hosting_country
Revises: 0015_storage_compact2
Create Date: 2026-12-04

RDAP's `country` for the network of the host's first address. Hosts attributed before this
revision have none (reported as "unknown") until their cached attribution is renewed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_hosting_country"
down_revision: str | Sequence[str] | None = "0015_storage_compact2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("attribution_cache", sa.Column("country", sa.String(length=2), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("attribution_cache") as batch:
        batch.drop_column("country")
