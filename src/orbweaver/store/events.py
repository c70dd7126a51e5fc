"""The append-only event log: every send, failure, escalation and decision leaves a row."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from orbweaver.clock import Clock
from orbweaver.store.models import Event


def record_event(
    session: Session,
    clock: Clock,
    kind: str,
    *,
    subject_type: str = "",
    subject_id: int | None = None,
    actor: str = "system",
    payload: dict[str, Any] | None = None,
) -> Event:
    """Add an event to the session; it lands with the caller's transaction, never on its own."""
    row = Event(
        at=clock.now().replace(tzinfo=None),
        kind=kind,
        subject_type=subject_type,
        subject_id=subject_id,
        actor=actor,
        payload=payload or {},
    )
    session.add(row)
    return row
