"""audit log: hash chain columns (filled for rows already there), TRUNCATE refused on PostgreSQL

Revision ID: 0008_audit_chain
Revises: 0007
Create Date: 2026-12-04
"""

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from orbweaver.store.triggers import no_truncate

revision: str = "0008_audit_chain"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = ("event", "audit_log", "review_assessment", "review_verdict")


def _hash(prev: str, row: Any) -> str:
    """As `orbweaver.review.audit.row_hash` computes it at this revision (copied, so the
    migration keeps working whatever the code does later)."""
    at: datetime = row.at if isinstance(row.at, datetime) else datetime.fromisoformat(row.at)
    detail = row.detail if isinstance(row.detail, dict) else json.loads(row.detail or "{}")
    fields = [
        prev,
        at.isoformat(),
        row.actor,
        row.role,
        row.action,
        row.subject_type,
        row.subject_id,
        detail,
    ]
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def upgrade() -> None:
    op.add_column("audit_log", sa.Column("prev_sha256", sa.String(length=64), nullable=True))
    op.add_column("audit_log", sa.Column("sha256", sa.String(length=64), nullable=True))
    postgres = op.get_context().dialect.name == "postgresql"
    # Chain the rows already there, with the refusing trigger off for this one transaction.
    if postgres:
        op.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
    else:
        op.execute("DROP TRIGGER audit_log_no_update")
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT id, at, actor, role, action, subject_type, subject_id, detail "
            "FROM audit_log ORDER BY id"
        )
    ).all()
    prev = ""
    for row in rows:
        digest = _hash(prev, row)
        conn.execute(
            sa.text("UPDATE audit_log SET prev_sha256 = :p, sha256 = :h WHERE id = :id"),
            {"p": prev, "h": digest, "id": row.id},
        )
        prev = digest
    if postgres:
        op.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
        for table in APPEND_ONLY:
            no_truncate(table)
    else:
        op.execute(
            "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
        )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("sha256")
        batch.drop_column("prev_sha256")
