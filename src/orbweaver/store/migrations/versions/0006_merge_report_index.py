"""merge the stage branches; index detections by category for reports

Revision ID: 0006
Revises: 0002, 0003, 0004, 0005
Create Date: 2026-11-29

Figure 1.0 counts detected images per category (a sighting once, however many bank entries it
matched); with this covering index that is an index scan, not a sort of every detection.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = ("0002", "0003", "0004", "0005")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_detection_category_sighting", "detection", ["category", "sighting_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_detection_category_sighting", table_name="detection")
