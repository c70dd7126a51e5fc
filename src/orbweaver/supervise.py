"""Keeping a role going through its dependencies' outages.

A role that runs for months meets a restarted database, a DNS server that does not answer, a
relay that is down. Such a fault is *transient*: the role backs off (doubling, capped), says so
once in the log (not once per attempt), keeps trying, and says when it resumed. Anything else
(a bug, a bad configuration) ends the loop with its traceback, for the supervisor that started
the role (`orbweaver run`, systemd, a container runtime) to restart and report.

`run_loop` is the pass loop of `notify --loop` and `monitor --loop`; `patiently` is the same
policy for one call (opening the store at start-up). Sleeping uses real time: this is the
process's own pacing, not domain time, which always comes from the injected clock.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


def _transient_types() -> tuple[type[BaseException], ...]:
    """Exception types that mean "a dependency is unreachable or restarting"."""
    import httpx
    import sqlalchemy.exc as sa_exc

    found: list[type[BaseException]] = [
        ConnectionError,  # refused, reset, aborted, broken pipe
        TimeoutError,
        socket.gaierror,  # DNS
        socket.herror,
        sa_exc.OperationalError,  # database down, restarting, connection lost
        sa_exc.InterfaceError,
        sa_exc.TimeoutError,  # no connection from the pool in time
        httpx.TransportError,  # a remote clock or another HTTP dependency unreachable
    ]
    try:
        import redis.exceptions as redis_exc

        found += [redis_exc.ConnectionError, redis_exc.TimeoutError]
    except ImportError:  # pragma: no cover - redis is a dependency, but optional here
        pass
    return tuple(found)


_NETWORK_ERRNOS = frozenset(
    {
        errno.ENETDOWN,
        errno.ENETUNREACH,
        errno.ENETRESET,
        errno.EHOSTDOWN,
        errno.EHOSTUNREACH,
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.ETIMEDOUT,
    }
)


def is_transient(exc: BaseException) -> bool:
    """True for faults a role waits out: unreachable, restarted or slow dependencies."""
    import sqlalchemy.exc as sa_exc

    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OSError) and exc.errno in _NETWORK_ERRNOS:
        return True
    return isinstance(exc, _transient_types())


@dataclass(frozen=True)
class Backoff:
    """Doubling waits from `base_s`, never longer than `cap_s`."""

    base_s: float = 1.0
    cap_s: float = 60.0

    def delay(self, failures: int) -> float:
        return float(min(self.base_s * 2 ** min(max(failures - 1, 0), 32), self.cap_s))


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"


class Patience:
    """The state of one run of failures: logs the first, counts the rest, logs the recovery."""

    def __init__(
        self,
        name: str,
        backoff: Backoff,
        logger: logging.Logger = log,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.backoff = backoff
        self.logger = logger
        self.clock = clock
        self.failures = 0
        self.since = 0.0

    def failed(self, exc: BaseException) -> float:
        """Note a transient failure; returns how long to wait before the next attempt."""
        from orbweaver.ops import count_error

        count_error(self.name.split(":")[0], f"outage_{type(exc).__name__}")
        self.failures += 1
        if self.failures == 1:
            self.since = self.clock()
            self.logger.warning(
                "%s: %s; backing off (retrying, waits doubling from %g s up to %g s)",
                self.name,
                _describe(exc),
                self.backoff.base_s,
                self.backoff.cap_s,
            )
        else:
            self.logger.debug(
                "%s: still failing (%d): %s", self.name, self.failures, _describe(exc)
            )
        return self.backoff.delay(self.failures)

    def succeeded(self) -> None:
        if self.failures:
            self.logger.warning(
                "%s: resumed after %d failed attempt(s) over %.0f s",
                self.name,
                self.failures,
                self.clock() - self.since,
            )
        self.failures = 0


def run_loop(
    step: Callable[[], object],
    *,
    name: str,
    every_s: float,
    backoff: Backoff | None = None,
    stop: threading.Event | None = None,
    transient: Callable[[BaseException], bool] = is_transient,
    logger: logging.Logger = log,
) -> None:
    """Run `step` every `every_s` seconds until `stop` is set, waiting out transient faults.

    A transient fault backs off and retries the step; any other exception ends the loop."""
    stop = stop or threading.Event()
    patience = Patience(name, backoff or Backoff(), logger)
    logger.info("%s: running, a pass every %g s", name, every_s)
    while not stop.is_set():
        try:
            step()
        except Exception as exc:
            if not transient(exc):
                raise
            stop.wait(patience.failed(exc))
            continue
        patience.succeeded()
        stop.wait(every_s)


def patiently(
    call: Callable[[], T],
    *,
    name: str,
    backoff: Backoff | None = None,
    stop: threading.Event | None = None,
    transient: Callable[[BaseException], bool] = is_transient,
    logger: logging.Logger = log,
) -> T:
    """`call()`, retried with backoff while it fails transiently (raises if `stop` is set)."""
    stop = stop or threading.Event()
    patience = Patience(name, backoff or Backoff(), logger)
    while True:
        try:
            result = call()
        except Exception as exc:
            if not transient(exc) or stop.is_set():
                raise
            stop.wait(patience.failed(exc))
            continue
        patience.succeeded()
        return result


def ensure_logging(level: int = logging.INFO) -> None:
    """Timestamped log lines on stderr for a long-running command, unless already configured."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("alembic").setLevel(logging.WARNING)  # its start-up chatter
