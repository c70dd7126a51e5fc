"""Failed logins, audited without letting an attacker write the log.

Each failed try used to append an audit row whose actor was whatever username the caller typed
(up to 200 characters, forever: the log refuses DELETE). Now a failure is counted per account
that exists (its real username) or under one anonymous bucket for names that do not, and
written as one `login.failed` row per bucket and window: the first failure of a window at
once, the rest as a count with the next row of that bucket. The typed name of an unknown
account is never stored; a few client addresses are, as evidence.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

UNKNOWN = ""  # the bucket of names that are no account
ADDRESSES_KEPT = 5


@dataclass
class _Pending:
    count: int = 0
    throttled: int = 0
    addresses: dict[str, int] = field(default_factory=dict)
    last_written: datetime | None = None


@dataclass(frozen=True)
class FailureRow:
    """What to audit now for one bucket (actor '' for unknown names)."""

    actor: str
    detail: dict[str, object]


class FailedLogins:
    """Per-process counts of failed logins, flushed as at most one row per bucket a window."""

    def __init__(self, window: timedelta = timedelta(minutes=1), max_buckets: int = 10_000):
        self.window = window
        self.max_buckets = max_buckets
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()

    def record(
        self, actor: str, address: str, now: datetime, *, throttled: bool = False
    ) -> list[FailureRow]:
        """Count one failure; the rows due now (this bucket's, and any other bucket whose
        window has passed, so counts do not wait for their own bucket's next failure)."""
        with self._lock:
            if actor not in self._pending and len(self._pending) >= self.max_buckets:
                actor = UNKNOWN  # a flood of distinct accounts: count them together
            entry = self._pending.setdefault(actor, _Pending())
            entry.count += 1
            entry.throttled += int(throttled)
            if address and (address in entry.addresses or len(entry.addresses) < ADDRESSES_KEPT):
                entry.addresses[address] = entry.addresses.get(address, 0) + 1
            return self._due(now)

    def flush(self, now: datetime, *, everything: bool = False) -> list[FailureRow]:
        with self._lock:
            return self._due(now, everything=everything)

    def _due(self, now: datetime, *, everything: bool = False) -> list[FailureRow]:
        rows = []
        for actor, entry in list(self._pending.items()):
            if entry.count == 0:
                if entry.last_written is None or now - entry.last_written >= self.window:
                    del self._pending[actor]  # quiet for a window: forget it
                continue
            if everything or entry.last_written is None or now - entry.last_written >= self.window:
                detail: dict[str, object] = {
                    "count": entry.count,
                    "addresses": dict(entry.addresses),
                }
                if entry.throttled:
                    detail["throttled"] = entry.throttled
                if actor == UNKNOWN:
                    detail["unknown_account"] = True
                rows.append(FailureRow(actor, detail))
                self._pending[actor] = _Pending(last_written=now)
        return rows
