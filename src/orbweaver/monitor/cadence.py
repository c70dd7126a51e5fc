"""The re-check cadence in force, kept in the event log.

The cadence (when noticed URLs are re-checked, what confirms a removal) is the precision of every
removal figure, so a report states the cadence its removal times were measured with, as the
monitor recorded it, not the settings of whoever runs the report.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from orbweaver.clock import Clock
from orbweaver.monitor.settings import MonitorSettings, cadence_of
from orbweaver.store import EventKind, record_event
from orbweaver.store.models import Event

CADENCE_EVENT = EventKind.MONITOR_CADENCE


def recorded_cadence(conn: Connection | Session) -> dict[str, Any] | None:
    """The cadence the monitor last recorded (the one in force), or None before any was."""
    return conn.execute(
        select(Event.payload).where(Event.kind == CADENCE_EVENT).order_by(Event.id.desc()).limit(1)
    ).scalar()


def record_cadence(session: Session, clock: Clock, settings: MonitorSettings) -> None:
    """Keep the cadence in force in the event log whenever it changes."""
    cadence = cadence_of(settings)
    if recorded_cadence(session) != cadence:
        record_event(session, clock, CADENCE_EVENT, payload=cadence)
