"""shield: api clients and the optional verdict log

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 12:41:01.535220
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_client",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("rate_per_minute", sa.Integer(), nullable=True),
        sa.Column("rate_burst", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_client")),
        sa.UniqueConstraint("name", name=op.f("uq_api_client_name")),
        sa.UniqueConstraint("username", name=op.f("uq_api_client_username")),
    )
    op.create_table(
        "shield_lookup",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "client_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("endpoint", sa.String(length=16), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("sha1", sa.String(length=40), nullable=True),
        sa.Column("pdq", sa.String(length=64), nullable=True),
        sa.Column("classification", sa.String(length=32), nullable=False),
        sa.Column("match_type", sa.String(length=8), nullable=True),
        sa.Column("entry_ids", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["api_client.id"], name=op.f("fk_shield_lookup_client_id_api_client")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shield_lookup")),
    )
    with op.batch_alter_table("shield_lookup", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shield_lookup_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_shield_lookup_client_id"), ["client_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_shield_lookup_sha256"), ["sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("shield_lookup", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shield_lookup_sha256"))
        batch_op.drop_index(batch_op.f("ix_shield_lookup_client_id"))
        batch_op.drop_index(batch_op.f("ix_shield_lookup_at"))

    op.drop_table("shield_lookup")
    op.drop_table("api_client")
