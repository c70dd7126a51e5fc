"""console (issue 20): the wellbeing policy an administrator sets in the console

Revision ID: 0017_wellbeing_policy
Revises: 0016_hosting_country
Create Date: 2026-12-05

One row (id 1) once an administrator saved the policy; until then the settings apply.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_wellbeing_policy"
down_revision: str | Sequence[str] | None = "0016_hosting_country"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "wellbeing_policy",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("blur", sa.Boolean(), nullable=False),
        sa.Column("greyscale", sa.Boolean(), nullable=False),
        sa.Column("exposure_cap_hours", sa.Float(), nullable=False),
        sa.Column("break_minutes", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("wellbeing_policy")
