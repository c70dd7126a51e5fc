"""The injected clock.

Domain code never reads the wall clock: removal times, follow-up schedules and re-checks are
measured against whatever clock the process was given, so tests and the simulated world can
fast-forward time without sleeping.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol


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


class RemoteClock:
    """Follows a clock served over HTTP (`GET url` → `{"now": ISO-8601}`), e.g. the simulated
    world's, so separate product processes all share the world's fast-forwarded time.

    Readings are cached for `max_age_s` of real time to keep hot loops from hammering the server;
    time never goes backwards even if the server's answer does.
    """

    def __init__(self, url: str, *, max_age_s: float = 0.0, timeout_s: float = 5.0) -> None:
        self.url = url
        self.max_age_s = max_age_s
        self.timeout_s = timeout_s
        self._last: datetime | None = None
        self._fetched_at = 0.0
        self._lock = threading.Lock()
        self._http: Any = None  # one keep-alive client: building one costs a TLS context load

    def now(self) -> datetime:
        import time

        with self._lock:
            fresh = self._last is not None and time.monotonic() - self._fetched_at < self.max_age_s
            if not fresh:
                reading = self._fetch()
                if self._last is None or reading > self._last:
                    self._last = reading
                self._fetched_at = time.monotonic()
            assert self._last is not None
            return self._last

    def _fetch(self) -> datetime:
        import httpx

        if self._http is None:
            self._http = httpx.Client(timeout=self.timeout_s, trust_env=False)
        response = self._http.get(self.url)
        response.raise_for_status()
        return ensure_utc(datetime.fromisoformat(response.json()["now"]))


def clock_from_url(url: str | None) -> Clock:
    """The system clock, or a remote one when a clock URL is configured."""
    return RemoteClock(url) if url else SystemClock()
