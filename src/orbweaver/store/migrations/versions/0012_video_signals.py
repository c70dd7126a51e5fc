"""bank entries hold vPDQ signals (issue 16): `signal` becomes text of any length

Revision ID: 0012_video_signals
Revises: 0011_console
Create Date: 2026-12-04

A vPDQ value is one 75-character feature per second of video (python-threatexchange's text
form), far beyond the 128 characters of a hash, and beyond what a PostgreSQL B-tree entry may
hold (about 2.7 kB). So on PostgreSQL the lookup index on the signal becomes a hash index
(equality lookups by sha256 stay indexed, whatever the length) and the uniqueness of
(bank, type, signal) is kept by a unique index on the signal's MD5; SQLite has no key-size
limit, and the import deduplicates in Python either way (banks/service.py).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_video_signals"
down_revision: str | Sequence[str] | None = "0011_console"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("bank_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_bank_entry_signal")
        batch_op.drop_constraint(op.f("uq_bank_entry_bank_id"), type_="unique")
        batch_op.alter_column(
            "signal", existing_type=sa.String(length=128), type_=sa.Text(), existing_nullable=False
        )
    if postgres:
        op.create_index("ix_bank_entry_signal", "bank_entry", ["signal"], postgresql_using="hash")
        op.execute(
            "CREATE UNIQUE INDEX ux_bank_entry_signal_md5 "
            "ON bank_entry (bank_id, signal_type, md5(signal))"
        )
    else:
        op.create_index("ix_bank_entry_signal", "bank_entry", ["signal"])


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("DROP INDEX ux_bank_entry_signal_md5")
    op.drop_index("ix_bank_entry_signal", table_name="bank_entry")
    with op.batch_alter_table("bank_entry", schema=None) as batch_op:
        batch_op.alter_column(
            "signal", existing_type=sa.Text(), type_=sa.String(length=128), existing_nullable=False
        )
        batch_op.create_unique_constraint(
            op.f("uq_bank_entry_bank_id"), ["bank_id", "signal_type", "signal"]
        )
        batch_op.create_index("ix_bank_entry_signal", ["signal_type", "signal"], unique=False)
