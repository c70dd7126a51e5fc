"""Daily exposure per analyst, checked against a cap before any image is served.

Time is counted in the clock's UTC day. The console charges a heartbeat while an item page is
open and visible; API clients are charged per image fetched, since they send no heartbeats.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from orbweaver.clock import Clock
from orbweaver.store.models import ExposureDay


def today(clock: Clock) -> str:
    return clock.now().date().isoformat()


def seconds_today(session: Session, clock: Clock, user_id: int) -> int:
    row = session.scalar(
        sa.select(ExposureDay.seconds).where(
            ExposureDay.user_id == user_id, ExposureDay.day == today(clock)
        )
    )
    return int(row or 0)


def charge(session: Session, clock: Clock, user_id: int, seconds: int) -> int:
    """Add `seconds` to today's counter (atomically) and return the new total."""
    day = today(clock)
    where = (ExposureDay.user_id == user_id, ExposureDay.day == day)
    updated = session.execute(
        sa.update(ExposureDay).where(*where).values(seconds=ExposureDay.seconds + seconds)
    )
    if getattr(updated, "rowcount", 0) == 0:
        try:
            with session.begin_nested():
                session.add(ExposureDay(user_id=user_id, day=day, seconds=seconds))
        except IntegrityError:  # another request created today's row first
            session.execute(
                sa.update(ExposureDay).where(*where).values(seconds=ExposureDay.seconds + seconds)
            )
    return seconds_today(session, clock, user_id)


def over_cap(session: Session, clock: Clock, user_id: int, cap_seconds: int) -> bool:
    return seconds_today(session, clock, user_id) >= cap_seconds
