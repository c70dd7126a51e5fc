"""One per-host politeness budget for the page crawl and the media workers (issue 15).

Pages are fetched by Scrapy in one process, media by worker processes, and with Redis by
processes on several machines: each keeping its own per-host limit would multiply what one
host sees by the number of processes. A budget is shared instead: at most
`per_host_concurrency` fetches at a time per host and `download_delay_s` between two starts on
one host, counted across every process that uses the same budget.

- `LocalHostBudget` (no Redis): one machine. A host has `per_host_concurrency` slot files
  under the crawl's data directory, a fetch holds an exclusive `flock` on one (released by the
  kernel if the process dies), and the next allowed start is a timestamp in a file beside them,
  read and moved under its own lock.
- `RedisHostBudget` (`ORBWEAVER_REDIS_URL`): any number of machines. A host's fetches in flight
  are a sorted set of tokens scored by their expiry (a holder that died frees its slot after the
  TTL), the next allowed start a key; one Lua script takes a slot (Redis's own clock, so
  machines' clocks do not matter).

`try_acquire(host)` never blocks: it returns a token, or None and how long to wait before
asking again; `acquire()` is the asyncio loop around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import struct
import time
import uuid
from pathlib import Path
from typing import Any, Protocol

from orbweaver.supervise import Backoff, Patience, is_transient

POLL_S = 0.02  # how often a process waiting for a host's slot asks again
OUTAGE_POLL_S = 1.0  # and while Redis is down
logger = logging.getLogger(__name__)


class HostBudget(Protocol):
    def try_acquire(self, host: str) -> tuple[Any, float]: ...

    def release(self, host: str, token: Any) -> None: ...

    def close(self) -> None: ...


async def acquire(budget: HostBudget, host: str) -> Any:
    """A slot of `host`'s budget, waiting (asyncio) as long as it takes."""
    while True:
        token, wait = budget.try_acquire(host)
        if token is not None:
            return token
        await asyncio.sleep(min(max(wait, 0.001), 1.0))


def _key(host: str) -> str:
    return hashlib.sha256(host.encode("utf-8", "surrogateescape")).hexdigest()[:24]


class LocalHostBudget:
    """The budget of the processes of one machine (see the module docstring)."""

    MAX_OPEN_HOSTS = 512  # slot files kept open, least recently used closed beyond it

    def __init__(self, directory: str | Path, per_host: int, delay_s: float) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.per_host = max(1, per_host)
        self.delay_s = max(0.0, delay_s)
        self._fds: dict[str, list[int]] = {}  # host key -> slot fds, then the delay file's fd
        self._held: set[tuple[str, int]] = set()  # flock is per open file: ours, by slot

    def _files(self, key: str) -> list[int]:
        fds = self._fds.pop(key, None)
        if fds is None:
            names = [f"{key}.{i}" for i in range(self.per_host)] + [f"{key}.next"]
            fds = [os.open(self.directory / n, os.O_RDWR | os.O_CREAT, 0o600) for n in names]
            while len(self._fds) >= self.MAX_OPEN_HOSTS:
                old_key = next(iter(self._fds))
                if any(k == old_key for k, _ in self._held):
                    break
                for fd in self._fds.pop(old_key):
                    os.close(fd)
        self._fds[key] = fds  # most recently used last
        return fds

    def try_acquire(self, host: str) -> tuple[Any, float]:
        key = _key(host)
        fds = self._files(key)
        slot = None
        for i in range(self.per_host):
            if (key, i) in self._held:
                continue
            try:
                fcntl.flock(fds[i], fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            slot = i
            break
        if slot is None:
            return None, POLL_S
        if self.delay_s > 0:
            wait = self._next_start(fds[-1])
            if wait > 0:
                fcntl.flock(fds[slot], fcntl.LOCK_UN)
                return None, wait
        self._held.add((key, slot))
        return (key, slot), 0.0

    def _next_start(self, fd: int) -> float:
        """0 and the next start moved `delay_s` on, or how long until the host may start."""
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            raw = os.pread(fd, 8, 0)
            due = struct.unpack("<d", raw)[0] if len(raw) == 8 else 0.0
            now = time.time()
            if due > now:
                return due - now
            os.pwrite(fd, struct.pack("<d", now + self.delay_s), 0)
            return 0.0
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def release(self, host: str, token: Any) -> None:
        key, slot = token
        self._held.discard((key, slot))
        fds = self._fds.get(key)
        if fds is not None:
            fcntl.flock(fds[slot], fcntl.LOCK_UN)

    def close(self) -> None:
        for fds in self._fds.values():
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._fds.clear()
        self._held.clear()


_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return -1 end
local delay = tonumber(ARGV[3])
if delay > 0 then
  local due = tonumber(redis.call('GET', KEYS[2]) or '0')
  if due > now then return due - now end
  redis.call('SET', KEYS[2], now + delay, 'PX', delay + 60000)
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[4])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 0
"""


class RedisHostBudget:
    """The budget of every process on one Redis (see the module docstring)."""

    def __init__(
        self, url: str, prefix: str, per_host: int, delay_s: float, ttl_s: float = 300.0
    ) -> None:
        import redis

        self.redis = redis.Redis.from_url(url)
        self.prefix = f"{prefix}:host"
        self.per_host = max(1, per_host)
        self.delay_ms = int(max(0.0, delay_s) * 1000)
        self.ttl_ms = max(1000, int(ttl_s * 1000))
        self._take: Any = self.redis.register_script(_TAKE)
        self._me = uuid.uuid4().hex[:12]
        self._n = 0
        self._patience = Patience(
            "crawl: per-host budget in Redis (fetching paused)", Backoff(1.0, 15.0), logger
        )

    def try_acquire(self, host: str) -> tuple[Any, float]:
        key = _key(host)
        self._n += 1
        token = f"{self._me}:{self._n}"
        keys = [f"{self.prefix}:{key}:slots", f"{self.prefix}:{key}:next"]
        try:
            got = int(
                self._take(keys=keys, args=[self.per_host, self.ttl_ms, self.delay_ms, token])
            )
        except Exception as exc:
            if not is_transient(exc):
                raise
            # Redis is down: fetching to any host pauses until it is back (as the frontier's
            # scheduler waits it out), said once
            self._patience.failed(exc)
            return None, OUTAGE_POLL_S
        self._patience.succeeded()
        if got == 0:
            return (key, token), 0.0
        return None, POLL_S if got < 0 else got / 1000.0

    def release(self, host: str, token: Any) -> None:
        key, member = token
        try:
            self.redis.zrem(f"{self.prefix}:{key}:slots", member)
        except Exception as exc:
            if not is_transient(exc):
                raise
            # the slot frees itself when its TTL ends

    def close(self) -> None:
        self.redis.close()


def host_budget(options: Any) -> HostBudget | None:
    """The crawl's shared budget: through Redis when configured, else on this machine's data
    directory (`options.politeness_dir`); None when neither is set (a budget of its own)."""
    ttl = options.timeout_s * (options.max_redirects + 1) + 60.0
    if options.redis_url:
        return RedisHostBudget(
            options.redis_url,
            options.redis_prefix,
            options.per_host_concurrency,
            options.download_delay_s,
            ttl,
        )
    if options.politeness_dir:
        return LocalHostBudget(
            options.politeness_dir, options.per_host_concurrency, options.download_delay_s
        )
    return None
