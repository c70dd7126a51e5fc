"""The rank of a queue item under the queue's order: one sortable integer plus the reasons.

Every order is one integer stored on the item (`ReviewItem.priority`), so serving the next item
stays one index scan on (status, priority DESC, first_seen_at, id) whatever the order:

- `fifo`: 0 for every item, so age alone decides (oldest first).
- `priority` (lexicographic): still online first, then the classifier's score (when a classifier
  is plugged in), then sites with many detections, then a PDQ close to (but outside) a known
  entry, then the number of sightings; age breaks ties. Counts enter as log2 buckets so that 41
  against 42 detections does not outrank a much closer PDQ.
- `expected`: the actionable notices a review now is expected to give: P(actionable) (the
  classifier's score; without one, the host's share of earlier verdicts that were actionable,
  shrunk towards the share over all hosts: `actionable_prior`) x P(still online when the verdict
  comes | online when last
  seen). Its host removes content after a lognormal time fitted to the host's observed removal
  times (median, p90) from when the item was first seen, so the chance is S(age + h) / S(age at
  the last sighting), h the time from serving to verdict (`review_verdict_hours`); an item not
  seen within the online window counts a tenth. When analysts cannot keep up, most items are
  never reviewed whatever the order, so what counts is that the ones reviewed are actionable
  and still there: items on hosts that remove within hours wait, the classifier leads.
  `benchmarks/bench_backlog.py` measured this against `fifo` and `priority` (BENCHMARKS.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import NormalDist
from typing import Literal

QueueOrder = Literal["fifo", "priority", "expected"]
# Added to the key of an item some analyst has assessed and the consensus still waits for: it is
# served before any fresh item under every order, since its first assessment (an image already
# shown) gives nothing until the second, and ranks move between the two. Keys stay below it.
AWAITING_CONSENSUS = 10**17
ORDERS: tuple[str, ...] = ("fifo", "priority", "expected")
_Z90 = NormalDist().inv_cdf(0.9)
_HOUR = 1.0 / 24.0
# How many verdicts the share over all hosts weighs in a host's estimate (a Beta prior's
# strength): a host needs a few verdicts of its own before they move its items much.
PRIOR_STRENGTH = 4.0


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
    # The plugged-in classifier's score in [0, 1] (None: no classifier, or it abstained).
    classifier_score: float | None = None
    # The top host's observed removal times (median, p90, days), None when none measured.
    removal_days: tuple[float, float] | None = None
    # Assessments the item already has (a verdict still waiting for the consensus).
    assessments: int = 0
    # Earlier verdicts (actionable, all) on the top host's items, and over every host.
    host_verdicts: tuple[int, int] = (0, 0)
    all_verdicts: tuple[int, int] = (0, 0)


def bucket(count: int) -> int:
    """0 for 0, 1 for 1-2, 2 for 3-6, ... (floor of log2(1 + count))."""
    return (1 + max(0, count)).bit_length() - 1


def closeness(distance: int | None, near: int) -> int:
    """Higher the nearer the PDQ is to a known entry; 0 when none is within `near` bits."""
    if distance is None or distance > near:
        return 0
    return min(255, near + 1 - distance)


def score(p: PriorityInputs, *, near: int) -> int:
    """The `priority` order: lexicographic over its components (module docstring)."""
    classifier = 0 if p.classifier_score is None else 1 + round(98 * _unit(p.classifier_score))
    return (
        int(p.online) * 10**12
        + classifier * 10**10
        + min(99, bucket(p.host_detections)) * 10**8
        + closeness(p.pdq_distance, near) * 10**4
        + min(9999, p.sightings)
    )


def _unit(x: float) -> float:
    return min(1.0, max(0.0, x)) if math.isfinite(x) else 0.0


def actionable_prior(
    host: tuple[int, int], overall: tuple[int, int], strength: float = PRIOR_STRENGTH
) -> float:
    """P(actionable) of an item without a classifier: the posterior mean of its host's share of
    actionable verdicts under a Beta prior centred on the share over all hosts (itself from a
    uniform prior, so 0.5 before any verdict), of weight `strength` verdicts. A new host starts
    at the base rate; one whose verdicts were all actionable moves up as they accumulate."""
    a_all, n_all = overall
    base = (max(0, a_all) + 1.0) / (max(0, n_all) + 2.0)
    a, n = max(0, host[0]), max(0, host[1])
    return (a + strength * base) / (n + strength)


def _lognormal(median: float, p90: float) -> NormalDist:
    """The normal law of ln(days) for a lognormal with this median and p90."""
    median = max(median, _HOUR)
    # a floor on the spread: a host's measured median and p90 are never the whole law
    sigma = max((math.log(max(p90, median)) - math.log(median)) / _Z90, 0.3)
    return NormalDist(math.log(median), sigma)


def expected(
    p: PriorityInputs, now: datetime, default_days: tuple[float, float], verdict_hours: float
) -> float:
    """P(actionable) x P(online when the verdict comes | online when last seen): the `expected`
    order. Without a classifier P(actionable) is the host's record (`actionable_prior`)."""
    median, p90 = p.removal_days or default_days
    law = _lognormal(median, p90)
    seen = max((p.last_seen_at - p.first_seen_at).total_seconds() / 86400, _HOUR)
    then = max((now - p.first_seen_at).total_seconds() / 86400, 0.0) + verdict_hours / 24
    alive = (1.0 - law.cdf(math.log(max(then, _HOUR)))) / max(1.0 - law.cdf(math.log(seen)), 1e-12)
    if p.classifier_score is None:
        prior = actionable_prior(p.host_verdicts, p.all_verdicts)
    else:
        prior = _unit(p.classifier_score)
    return prior * min(1.0, alive) * (1.0 if p.online else 0.1)


def order_key(
    order: str,
    p: PriorityInputs,
    now: datetime,
    *,
    near: int,
    default_days: tuple[float, float] = (7.0, 60.0),
    verdict_hours: float = 24.0,
) -> int:
    """The integer the queue sorts on (descending) under `order`."""
    if order == "fifo":
        key = 0
    elif order == "priority":
        key = score(p, near=near)
    elif order == "expected":
        key = round(expected(p, now, default_days, verdict_hours) * 1e15)
    else:
        raise ValueError(f"unknown queue order {order!r} (one of {', '.join(ORDERS)})")
    return key + (AWAITING_CONSENSUS if p.assessments > 0 else 0)


def _ago(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.0f} h ago" if hours < 48 else f"{hours / 24:.0f} days ago"


def explain(p: PriorityInputs, now: datetime, *, near: int) -> list[str]:
    """One line per component, in the order they weigh."""
    seen = _ago(now - p.last_seen_at)
    reasons = [f"still online: last seen {seen}" if p.online else f"may be gone: last seen {seen}"]
    if p.classifier_score is not None:
        reasons.append(f"classifier score {_unit(p.classifier_score):.2f}")
    if p.removal_days is not None:
        median, p90 = p.removal_days
        reasons.append(f"host removes in {median:.1f} days (median), {p90:.1f} (p90)")
    if p.host_verdicts[1]:
        a, n = p.host_verdicts
        reasons.append(f"host's earlier verdicts: {a} of {n} actionable")
    if p.host_detections:
        reasons.append(f"site {p.top_host} has {p.host_detections} detections")
    if p.pdq_distance is not None and closeness(p.pdq_distance, near):
        limit = f" (bank threshold {p.pdq_threshold})" if p.pdq_threshold is not None else ""
        reasons.append(f"PDQ {p.pdq_distance} bits from a known entry{limit}")
    reasons.append(f"{p.sightings} sighting{'s' if p.sightings != 1 else ''} on {p.hosts} host(s)")
    reasons.append(f"waiting since {p.first_seen_at:%Y-%m-%d %H:%M} UTC")
    return reasons
