"""The audit log: every view of a suspect image, every assessment, every bank change.

Rows are only ever added; database triggers refuse UPDATE and DELETE, and no route writes
anything but new rows. Like `record_event`, a row lands with the caller's transaction.
"""

from __future__ import annotations

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
    session.add(row)
    return row


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
