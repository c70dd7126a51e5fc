"""The injected clock.

Domain code never reads the wall clock: removal times, follow-up schedules and re-checks are
measured against whatever clock the process was given, so tests and the simulated world can
fast-forward time without sleeping.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Anything that can tell the current time (timezone-aware, UTC)."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real wall clock, for production."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class SettableClock:
    """A clock that only moves when told to: for tests and for following a simulated world."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = ensure_utc(start or datetime(2021, 1, 1, tzinfo=UTC))
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        """Jump to `when`; refuses to go backwards, since event logs assume monotonic time."""
        when = ensure_utc(when)
        with self._lock:
            if when < self._now:
                raise ValueError(f"clock cannot go backwards: {when} < {self._now}")
            self._now = when

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("clock cannot go backwards")
        with self._lock:
            self._now = self._now + delta
            return self._now


def ensure_utc(when: datetime) -> datetime:
    """Naive datetimes are taken as UTC (SQLite returns them naive)."""
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)
