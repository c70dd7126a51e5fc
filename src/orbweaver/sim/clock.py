"""The world clock: the one notion of "now" that every simulated provider follows.

It only moves when a driver advances it (tests, the demo, `POST control/clock/advance`), or, when
started with a `speed`, it also runs on its own at that many world seconds per real second. Nothing
in the world sleeps on world time: state is a function of `now`, so jumping three years is instant.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class WorldClock:
    """Monotonic world time, thread-safe."""

    def __init__(self, start: datetime, speed: float = 0.0) -> None:
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        self._base = start.astimezone(UTC)
        self._speed = speed
        self._real0 = time.monotonic()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now_locked()

    def _now_locked(self) -> datetime:
        if self._speed:
            elapsed = (time.monotonic() - self._real0) * self._speed
            return self._base + timedelta(seconds=elapsed)
        return self._base

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by `delta`; the world never goes backwards (its logs assume it)."""
        if delta < timedelta(0):
            raise ValueError("the world clock cannot go backwards")
        with self._lock:
            self._base = self._now_locked() + delta
            self._real0 = time.monotonic()
            return self._base

    def set(self, when: datetime) -> datetime:
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
        with self._lock:
            now = self._now_locked()
            if when < now:
                raise ValueError(f"the world clock cannot go backwards: {when} < {now}")
            self._base = when
            self._real0 = time.monotonic()
            return when


def iso(when: datetime) -> str:
    """ISO-8601 UTC with a Z, the one format the world speaks."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(".000000Z", "Z")


def parse_iso(text: str) -> datetime:
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
