"""The audit log: every view of a suspect image, every assessment, every bank change.

Rows are only ever added; database triggers refuse UPDATE and DELETE (and TRUNCATE on
PostgreSQL), and no route writes anything but new rows. Like `record_event`, a row lands with
the caller's transaction.

Tamper evidence: each row carries the hash of the row before it (`prev_sha256`) and its own
(`sha256`, over that and its fields), so a row changed, removed or slipped in by someone who got
past the triggers (a superuser, a file editor) breaks the chain at that row;
`orbweaver audit verify` walks it. Appends are serialised to keep one chain: on PostgreSQL by a
transaction advisory lock, on SQLite by taking the write lock before reading the last hash.
Rows from before the chain existed were chained by the migration that added it. What a chain
cannot show is rows cut off its end: `verify` prints the head hash, for the operator to note
elsewhere.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from orbweaver.clock import Clock
from orbweaver.review.accounts import Principal
from orbweaver.store.models import AuditEntry


def audit(
    session: Session,
    clock: Clock,
    who: Principal | str,
    action: str,
    *,
    subject_type: str = "",
    subject_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    actor, role = (who.username, who.role) if isinstance(who, Principal) else (who, "")
    row = AuditEntry(
        at=clock.now(),
        actor=actor,
        role=role,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        detail=detail or {},
    )
    prev = _last_hash(session)
    row.prev_sha256 = prev
    row.sha256 = row_hash(prev, row)
    session.add(row)
    session.flush()  # in the chain's order: the next append in this transaction sees it
    return row


AUDIT_LOCK_KEY = 0x0A_0D17_C4A1  # the advisory lock that serialises appends on PostgreSQL


def _last_hash(session: Session) -> str:
    """The newest row's hash ('' for the first row), read under the chain's lock."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK_KEY})
    else:  # take SQLite's write lock first, so no other writer appends between read and insert
        session.execute(sa.text("UPDATE audit_log SET id = id WHERE 1 = 0"))
    last = session.scalar(sa.select(AuditEntry.sha256).order_by(AuditEntry.id.desc()).limit(1))
    return last or ""


def row_hash(prev: str, row: AuditEntry) -> str:
    """SHA-256 over the previous hash and this row's fields, as canonical JSON (the
    0008_audit_chain migration computes the same for rows from before)."""
    fields = [
        prev,
        row.at.isoformat(),
        row.actor,
        row.role,
        row.action,
        row.subject_type,
        row.subject_id,
        row.detail,
    ]
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    """The outcome of walking the audit chain."""

    rows: int
    head: str  # the newest row's hash: note it elsewhere to detect rows cut off the end
    broken_at: int | None  # id of the first row that does not fit, None when all do
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def verify_chain(session: Session, *, batch: int = 5000) -> ChainReport:
    """Recompute every row's hash in id order and check each links to the one before."""
    prev, rows, last_id = "", 0, 0
    while True:
        chunk = list(
            session.scalars(
                sa.select(AuditEntry)
                .where(AuditEntry.id > last_id)
                .order_by(AuditEntry.id)
                .limit(batch)
            )
        )
        if not chunk:
            return ChainReport(rows, prev, None)
        for row in chunk:
            if row.prev_sha256 != prev:
                return ChainReport(rows, prev, row.id, "does not follow the row before it")
            if row.sha256 != row_hash(prev, row):
                return ChainReport(rows, prev, row.id, "its content does not match its hash")
            prev, rows, last_id = row.sha256, rows + 1, row.id
        session.expunge_all()


def read_audit(
    session: Session, *, limit: int = 200, before_id: int | None = None, action: str | None = None
) -> list[AuditEntry]:
    """Newest first, paged by id."""
    query = sa.select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    if action:
        query = query.where(AuditEntry.action == action)
    return list(session.scalars(query))
