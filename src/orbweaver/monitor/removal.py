"""Removal time, as every figure uses it: first notice → removal.

The removal instant is estimated as the midpoint of (last seen online, first miss of the streak
that confirmed removal]; both ends are stored on the notice, so reports can also treat it as
interval-censored. The error is at most one re-check interval. A notice still online has no
removal time: it is right-censored, never dropped.
"""

from __future__ import annotations

from datetime import datetime

from orbweaver.store.models import Notice


def removal_instant(
    first_sent: datetime, last_online: datetime | None, first_miss: datetime
) -> datetime:
    """The estimated removal instant: midway between the last online check (the first notice
    when none was seen online after it) and the first miss of the confirming streak."""
    lower = max(last_online or first_sent, first_sent)
    return lower + (first_miss - lower) / 2


def removal_seconds(n: Notice) -> float | None:
    """Removal time of a notice, or None while it is still online (right-censored)."""
    if n.removed_at is None or n.first_sent_at is None:
        return None
    return (n.removed_at - n.first_sent_at).total_seconds()
