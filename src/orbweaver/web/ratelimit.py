"""Per-client token buckets, so one client's burst cannot starve the others.

Without Redis each worker process keeps its own buckets: with N workers a client can get up to
N times its rate. With `ORBWEAVER_REDIS_URL` set, every worker and machine serving the same banks
shares one bucket per client in Redis (one atomic script call a request, the server's clock, so
machines need not agree on time); if Redis cannot be reached, each worker falls back to its own
buckets for a few seconds at a time and says so, rather than refusing every client.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class Limiter(Protocol):
    def take(self, key: object, cost: int, *, rate_per_minute: float, burst: int) -> float | None:
        """Spend `cost` tokens; None if allowed, else the seconds to wait before retrying."""


@dataclass
class _Bucket:
    tokens: float
    updated: float


def _clamp(cost: int, burst: int) -> tuple[int, int]:
    """A request costs at least 1 and at most the burst (a big batch is slowed, never locked
    out); a bucket holds at least one token."""
    burst = max(burst, 1)
    return min(max(cost, 1), burst), burst


class RateLimiter:
    """Token buckets keyed by client: `rate_per_minute` refill, up to `burst` tokens."""

    def __init__(self, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._buckets: dict[object, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: object, cost: int, *, rate_per_minute: float, burst: int) -> float | None:
        """Spend `cost` tokens; None if allowed, else the seconds to wait before retrying.

        A cost above `burst` is charged as `burst`, so a large batch is slowed, never locked out.
        """
        if rate_per_minute <= 0:
            return None  # no limit configured
        rate = rate_per_minute / 60.0
        cost, burst = _clamp(cost, burst)
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


# KEYS[1]: the client's bucket; ARGV: tokens per second, burst, cost. Returns the wait (seconds,
# as a string: Lua numbers become integers in replies), "0" when allowed.
_TAKE = """
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) + tonumber(now_t[2]) / 1000000
local rate, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 't', 'u')
local tokens, updated = tonumber(state[1]), tonumber(state[2])
if tokens == nil then tokens, updated = burst, now end
tokens = math.min(burst, tokens + math.max(0, now - updated) * rate)
local wait = 0
if tokens >= cost then tokens = tokens - cost else wait = (cost - tokens) / rate end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'u', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
return tostring(wait)
"""


class SharedRateLimiter:
    """The same token buckets, kept in Redis for every worker and machine."""

    def __init__(
        self,
        redis_url: str,
        *,
        prefix: str = "orbweaver:ratelimit",
        fallback: RateLimiter | None = None,
        retry_after_s: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        import redis

        self._redis = redis.Redis.from_url(
            redis_url, socket_timeout=0.25, socket_connect_timeout=0.25
        )
        self._script: Any = self._redis.register_script(_TAKE)
        self._prefix = prefix
        self._fallback = fallback or RateLimiter(monotonic=monotonic)
        self._retry_after_s = retry_after_s
        self._monotonic = monotonic
        self._down_until = 0.0

    def take(self, key: object, cost: int, *, rate_per_minute: float, burst: int) -> float | None:
        if rate_per_minute <= 0:
            return None
        local: dict[str, Any] = {"rate_per_minute": rate_per_minute, "burst": burst}
        if self._monotonic() < self._down_until:
            return self._fallback.take(key, cost, **local)
        cost, burst = _clamp(cost, burst)
        try:
            wait = float(
                self._script(
                    keys=[f"{self._prefix}:{key}"], args=[rate_per_minute / 60.0, burst, cost]
                )
            )
        except Exception as exc:  # redis.RedisError and socket errors: serve, but say so
            logger.warning(
                "shared rate limit unavailable (%s); this worker limits on its own for %g s",
                exc,
                self._retry_after_s,
            )
            self._down_until = self._monotonic() + self._retry_after_s
            return self._fallback.take(key, cost, **local)
        return wait if wait > 0 else None


def rate_limiter(redis_url: str, prefix: str = "orbweaver:ratelimit") -> Limiter:
    """Shared buckets when the deployment has Redis, per-worker ones otherwise."""
    return SharedRateLimiter(redis_url, prefix=prefix) if redis_url else RateLimiter()


def retry_after_header(seconds: float) -> str:
    """Retry-After takes whole seconds; round up so a client that obeys it succeeds."""
    return str(max(1, math.ceil(seconds)))
