"""The match index of one serving process, kept current by a background thread.

Each uvicorn worker holds its own `Matcher`. A daemon thread calls `refresh()` every few
seconds (cheap when nothing changed), so bank imports, new entries, disabled banks and new
thresholds reach the API without a restart. Readiness follows from it: not ready until the
first load finished, and not ready again when refreshes have failed for too long (stale).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from orbweaver.banks import Matcher
from orbweaver.clock import Clock
from orbweaver.signals import PDQIndex

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Readiness:
    ready: bool
    state: str  # loading | ready | stale
    last_refresh: datetime | None
    age_s: float | None
    error: str | None


class LiveMatcher:
    """A Matcher plus its refresher thread and the time of its last successful refresh."""

    def __init__(
        self,
        matcher: Matcher,
        clock: Clock,
        *,
        interval_s: float = 5.0,
        stale_after_s: float = 60.0,
    ) -> None:
        self.matcher = matcher
        self.clock = clock
        self.interval_s = interval_s
        self.stale_after_s = stale_after_s
        self.last_refresh: datetime | None = None
        self.last_error: str | None = None
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def loaded(self) -> bool:
        return self.matcher.loaded and self.last_refresh is not None

    def refresh_now(self) -> bool:
        """Load what changed in the store; True if anything did. One refresh at a time."""
        with self._refresh_lock:
            try:
                changed = self.matcher.refresh()
                if self.last_refresh is None:
                    warm_up(self.matcher)
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                raise
            self.last_refresh = self.clock.now()
            self.last_error = None
            return changed

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="matcher-refresh", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.refresh_now():
                    log.info("match index refreshed: %d entries", self.matcher.size)
            except Exception:
                log.exception("match index refresh failed; serving the previous index")
            self._stop.wait(self.interval_s)

    def readiness(self) -> Readiness:
        if not self.loaded or self.last_refresh is None:
            return Readiness(False, "loading", None, None, self.last_error)
        age = (self.clock.now() - self.last_refresh).total_seconds()
        if age > self.stale_after_s:
            return Readiness(False, "stale", self.last_refresh, age, self.last_error)
        return Readiness(True, "ready", self.last_refresh, age, self.last_error)


def warm_up(matcher: Matcher) -> float:
    """Compile (or load from numba's cache) every PDQ search kernel before the first request.

    The index's kernels compile on first use, which takes seconds; a worker must not report
    ready and then stall its first requests on it. A tiny throw-away index exercises both the
    probing path (threshold 0: one probe is cheaper than a scan) and the scanning path
    (threshold 31 on a small segment), whatever the banks hold now or later; one lookup on the
    real index then touches its tables and the matcher's own code. Returns the seconds taken.
    """
    started = time.monotonic()
    rng = np.random.default_rng(0)
    hashes = rng.integers(0, 256, size=(4096, 32), dtype=np.uint8)
    tiny = PDQIndex(delta_capacity=16)
    tiny.add(hashes, np.arange(len(hashes), dtype=np.int64))
    tiny.search_batch(hashes[:2], 0)
    tiny.search_batch(hashes[:2], 31)
    queries = rng.integers(0, 256, size=(2, 32), dtype=np.uint8)
    matcher.match_pdq_many([q.tobytes().hex() for q in queries])
    elapsed = time.monotonic() - started
    log.info("PDQ search kernels warm in %.1f s", elapsed)
    return elapsed
