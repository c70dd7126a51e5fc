"""Per-client token buckets, so one client's burst cannot starve the others.

Each worker process keeps its own buckets (no shared store on the hot path): with N workers a
client can get up to N times its rate. Deployments size the limit per worker, or put a shared
limiter in front.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets keyed by client: `rate_per_minute` refill, up to `burst` tokens."""

    def __init__(self, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._buckets: dict[object, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: object, cost: int, *, rate_per_minute: int, burst: int) -> float | None:
        """Spend `cost` tokens; None if allowed, else the seconds to wait before retrying.

        A cost above `burst` is charged as `burst`, so a large batch is slowed, never locked out.
        """
        if rate_per_minute <= 0:
            return None  # no limit configured
        rate = rate_per_minute / 60.0
        burst = max(burst, 1)
        cost = min(max(cost, 1), burst)
        now = self._monotonic()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(float(burst), now)
            bucket.tokens = min(float(burst), bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
            if bucket.tokens >= cost:
                bucket.tokens -= cost
                return None
            return (cost - bucket.tokens) / rate


def retry_after_header(seconds: float) -> str:
    """Retry-After takes whole seconds; round up so a client that obeys it succeeds."""
    return str(max(1, math.ceil(seconds)))
