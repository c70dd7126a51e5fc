"""The store keeps naive UTC datetimes: the one place in notices that turns a clock's aware time
into that form (planning, rounds and digests all stamp rows with it)."""

from __future__ import annotations

from datetime import datetime

from orbweaver.clock import Clock, ensure_utc


def store_now(clock: Clock) -> datetime:
    """`clock`'s time as the store's columns hold it (naive UTC)."""
    return ensure_utc(clock.now()).replace(tzinfo=None)
