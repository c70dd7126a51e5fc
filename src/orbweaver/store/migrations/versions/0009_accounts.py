"""console accounts: TOTP secret and last step, password change time, session idle time

Revision ID: 0009_accounts
Revises: 0008_audit_chain
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_accounts"
down_revision: str | Sequence[str] | None = "0008_audit_chain"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("review_user", sa.Column("totp_secret", sa.String(length=64), nullable=True))
    op.add_column("review_user", sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
    op.add_column("review_user", sa.Column("password_changed_at", sa.DateTime(), nullable=True))
    op.add_column("web_session", sa.Column("last_seen_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("web_session") as batch:
        batch.drop_column("last_seen_at")
    with op.batch_alter_table("review_user") as batch:
        batch.drop_column("password_changed_at")
        batch.drop_column("totp_last_step")
        batch.drop_column("totp_secret")
