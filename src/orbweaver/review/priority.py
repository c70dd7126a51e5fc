"""The priority of a queue item: one sortable integer plus the reasons a person can read.

The order the issue asks for is lexicographic: still online first, then sites with many
detections, then a PDQ close to (but outside) a known entry, then the number of sightings; age
breaks ties in the query (oldest first). Counts enter as log2 buckets so that 41 against 42
detections does not outrank a much closer PDQ.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class PriorityInputs:
    """What the score is computed from; stored alongside it on the item."""

    online: bool
    last_seen_at: datetime
    first_seen_at: datetime
    sightings: int
    hosts: int
    top_host: str
    host_detections: int
    pdq_distance: int | None
    pdq_threshold: int | None


def bucket(count: int) -> int:
    """0 for 0, 1 for 1-2, 2 for 3-6, ... (floor of log2(1 + count))."""
    return (1 + max(0, count)).bit_length() - 1


def closeness(distance: int | None, near: int) -> int:
    """Higher the nearer the PDQ is to a known entry; 0 when none is within `near` bits."""
    if distance is None or distance > near:
        return 0
    return min(255, near + 1 - distance)


def score(p: PriorityInputs, *, near: int) -> int:
    return (
        int(p.online) * 10**10
        + min(99, bucket(p.host_detections)) * 10**8
        + closeness(p.pdq_distance, near) * 10**4
        + min(9999, p.sightings)
    )


def _ago(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.0f} h ago" if hours < 48 else f"{hours / 24:.0f} days ago"


def explain(p: PriorityInputs, now: datetime, *, near: int) -> list[str]:
    """One line per component, in the order they weigh."""
    seen = _ago(now - p.last_seen_at)
    reasons = [f"still online: last seen {seen}" if p.online else f"may be gone: last seen {seen}"]
    if p.host_detections:
        reasons.append(f"site {p.top_host} has {p.host_detections} detections")
    if p.pdq_distance is not None and closeness(p.pdq_distance, near):
        limit = f" (bank threshold {p.pdq_threshold})" if p.pdq_threshold is not None else ""
        reasons.append(f"PDQ {p.pdq_distance} bits from a known entry{limit}")
    reasons.append(f"{p.sightings} sighting{'s' if p.sightings != 1 else ''} on {p.hosts} host(s)")
    reasons.append(f"waiting since {p.first_seen_at:%Y-%m-%d %H:%M} UTC")
    return reasons
