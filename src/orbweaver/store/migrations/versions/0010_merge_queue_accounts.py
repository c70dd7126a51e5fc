"""merge the media queue (issue 15) and the console accounts (issue 14) branches

Revision ID: 0010_merge
Revises: 0008_media_queue, 0009_accounts
Create Date: 2026-12-04

Both branches grew from 0007 at once; nothing to do but join them, so that `db upgrade` has one
head to go to.
"""

from collections.abc import Sequence

revision: str = "0010_merge"
down_revision: str | Sequence[str] | None = ("0008_media_queue", "0009_accounts")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
