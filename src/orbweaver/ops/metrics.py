"""Prometheus metrics, one owner for their names: `orbweaver_<stage>_<what>_<unit>`.

Two kinds, as the Prometheus conventions split them:

- **work done** (pages, media, detections, suspects, messages queued/sent/failed, re-checks,
  errors by kind): counters in the process that does the work, incremented where its pass
  returns its figures (`count`, `count_error`). They reset when a process restarts, which
  Prometheus' `rate()` and `increase()` expect. Scrapy's namespaced stats (`orbweaver/pages`)
  become `orbweaver_crawl_pages_total` the same way.
- **state** (queue depths, the age of the oldest due item): read from the store by
  `QueueCollector` when scraped, with one indexed query per queue, never kept in memory, so
  every process that reports a queue reports the same figure, and a restarted one too.

Everything is registered in prometheus-client's default registry (which also carries the
process' memory and CPU), once per process: asking twice for a counter returns the same one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from orbweaver.clock import Clock, ensure_utc

log = logging.getLogger(__name__)
PREFIX = "orbweaver"
# No `<name>_created` series beside every counter: nothing here reads them.
disable_created_metrics()

_lock = threading.Lock()
_counters: dict[str, Counter] = {}
_gauges: dict[str, Gauge] = {}


def metric_name(stage: str, what: str, unit: str = "") -> str:
    """`orbweaver_<stage>_<what>[_<unit>]`, lower case, `-` as `_` (`review-sync`)."""
    parts = [PREFIX, stage, what, *([unit] if unit else [])]
    return "_".join(p.replace("-", "_").replace("/", "_").lower() for p in parts)


def counter(stage: str, what: str, doc: str, labels: Sequence[str] = ()) -> Counter:
    """The counter `orbweaver_<stage>_<what>_total` (created on first use)."""
    name = metric_name(stage, what)
    with _lock:
        found = _counters.get(name)
        if found is None:
            # prometheus-client adds `_total` to a counter's name itself
            found = Counter(name, doc, labelnames=tuple(labels))
            _counters[name] = found
        return found


def gauge(stage: str, what: str, unit: str, doc: str, labels: Sequence[str] = ()) -> Gauge:
    """The gauge `orbweaver_<stage>_<what>_<unit>` (created on first use)."""
    name = metric_name(stage, what, unit)
    with _lock:
        found = _gauges.get(name)
        if found is None:
            found = Gauge(name, doc, labelnames=tuple(labels))
            _gauges[name] = found
        return found


def count(stage: str, what: str, amount: float = 1, doc: str = "", **labels: str) -> None:
    """Add `amount` to `orbweaver_<stage>_<what>_total` (nothing when it is 0)."""
    metric = counter(stage, what, doc or f"{what.replace('_', ' ')} ({stage})", tuple(labels))
    if not amount:
        # still exported (as 0), so a dashboard sees the series before the first event
        if labels:
            metric.labels(**labels)
        return
    (metric.labels(**labels) if labels else metric).inc(amount)


def _errors() -> Counter:
    """`orbweaver_errors_total{stage, kind}`: the one name without a stage, which is a label."""
    name = f"{PREFIX}_errors"
    with _lock:
        found = _counters.get(name)
        if found is None:
            found = Counter(
                name,
                "Errors by stage and kind: failed fetches, refused URLs, outages waited out",
                labelnames=("stage", "kind"),
            )
            _counters[name] = found
        return found


def count_error(stage: str, kind: str, amount: float = 1) -> None:
    """One more `orbweaver_errors_total{stage, kind}`: a failed fetch, an outage waited out."""
    if amount:
        _errors().labels(stage=stage.replace("-", "_"), kind=kind).inc(amount)


# -- queues read from the store at scrape time -------------------------------------------------


@dataclass(frozen=True)
class QueueState:
    due: int
    oldest_due: datetime | None


QueueReader = Callable[[Any, datetime], QueueState]


def _outbox(session: Any, now: datetime) -> QueueState:
    import sqlalchemy as sa

    from orbweaver.store.models import Outbox

    due = sa.and_(
        Outbox.status.in_(("pending", "claimed", "sending")), Outbox.next_attempt_at <= now
    )
    return _state(session, sa.select(sa.func.count(), sa.func.min(Outbox.next_attempt_at)), due)


def _rechecks(session: Any, now: datetime) -> QueueState:
    import sqlalchemy as sa

    from orbweaver.store.models import Notice

    due = sa.and_(Notice.next_check_at <= now, Notice.status == "open")
    scheduled = _state(session, sa.select(sa.func.count(), sa.func.min(Notice.next_check_at)), due)
    # sent, and not yet given a first check by a monitor: due since it was sent
    waiting = sa.and_(
        Notice.next_check_at.is_(None), Notice.status == "open", Notice.first_sent_at <= now
    )
    unscheduled = _state(
        session, sa.select(sa.func.count(), sa.func.min(Notice.first_sent_at)), waiting
    )
    oldest = [t for t in (scheduled.oldest_due, unscheduled.oldest_due) if t is not None]
    return QueueState(scheduled.due + unscheduled.due, min(oldest) if oldest else None)


# An outbox row in one of these has not gone yet (`orbweaver.notices` UNSENT_STATUSES).
UNSENT = ("pending", "claimed", "sending", "held", "batched")


def _followups(session: Any, now: datetime) -> QueueState:
    """Follow-ups the notifier would enqueue now: as `schedule_rounds` picks them, so a notice
    held back on purpose (a miss awaiting confirmation, or its last round not delivered yet,
    as through an SMTP outage) is not work due, and its wait no alarm."""
    import sqlalchemy as sa

    from orbweaver.store.models import Notice, Outbox

    unsent = sa.exists().where(Outbox.notice_id == Notice.id, Outbox.status.in_(UNSENT))
    due = sa.and_(
        Notice.next_followup_at <= now,
        Notice.status == "open",
        Notice.first_sent_at.is_not(None),
        Notice.miss_count == 0,
        ~unsent,
    )
    return _state(session, sa.select(sa.func.count(), sa.func.min(Notice.next_followup_at)), due)


def _review(session: Any, now: datetime) -> QueueState:
    import sqlalchemy as sa

    from orbweaver.store.models import ReviewItem

    due = ReviewItem.status == "open"
    return _state(session, sa.select(sa.func.count(), sa.func.min(ReviewItem.first_seen_at)), due)


def _suspects(session: Any, now: datetime) -> QueueState:
    import sqlalchemy as sa

    from orbweaver.store.models import Suspect

    due = Suspect.status == "pending"
    return _state(session, sa.select(sa.func.count(), sa.func.min(Suspect.created_at)), due)


def _crawl_seeds(session: Any, now: datetime) -> QueueState:
    import sqlalchemy as sa

    from orbweaver.store.models import CrawlSeed

    due = CrawlSeed.fetched_at.is_(None)
    return _state(session, sa.select(sa.func.count(), sa.func.min(CrawlSeed.created_at)), due)


def _crawl_recrawls(session: Any, now: datetime) -> QueueState:
    import sqlalchemy as sa

    from orbweaver.store.models import CrawlPage

    due = CrawlPage.next_crawl_at <= now
    return _state(session, sa.select(sa.func.count(), sa.func.min(CrawlPage.next_crawl_at)), due)


def _state(session: Any, query: Any, where: Any) -> QueueState:
    due, oldest = session.execute(query.where(where)).one()
    return QueueState(int(due or 0), oldest)


# Every queue a role drains: what is due in it, and since when. Each is one query on indexed
# columns (the outbox's status and due time, a notice's next check and follow-up, the review
# queue's index, a suspect's status, a seed's fetch time, a page's next crawl).
QUEUES: dict[str, QueueReader] = {
    "outbox": _outbox,
    "rechecks": _rechecks,
    "followups": _followups,
    "review": _review,
    "suspects": _suspects,
    "crawl_seeds": _crawl_seeds,
    "crawl_recrawls": _crawl_recrawls,
}


class QueueCollector(Collector):
    """Queue depths and oldest-due ages of `queues`, read from the store when scraped.

    A store that does not answer makes `orbweaver_queue_scrape_ok` 0 and leaves the queue
    series out of that scrape (absent, not a false 0)."""

    def __init__(self, store: Any, clock: Clock, queues: Iterable[str]) -> None:
        self.store = store
        self.clock = clock
        self.queues = tuple(queues)
        unknown = set(self.queues) - set(QUEUES)
        if unknown:
            raise ValueError(f"unknown queue(s): {', '.join(sorted(unknown))}")

    def describe(self) -> list[Any]:
        return []  # collected on demand: never at registration

    def read(self) -> dict[str, QueueState]:
        from orbweaver.store import store_now

        now = store_now(self.clock)
        with self.store.session() as session:
            return {name: QUEUES[name](session, now) for name in self.queues}

    def collect(self) -> Iterator[Any]:
        ok = GaugeMetricFamily(
            metric_name("queue", "scrape_ok"), "1 when the queue figures could be read"
        )
        try:
            states = self.read()
            now = ensure_utc(self.clock.now())
        except Exception as exc:
            log.warning("queue metrics: store unreadable: %s: %s", type(exc).__name__, exc)
            ok.add_metric([], 0)
            yield ok
            return
        ok.add_metric([], 1)
        yield ok
        depth = GaugeMetricFamily(
            metric_name("queue", "due", "items"), "Items due in the queue", labels=["queue"]
        )
        age = GaugeMetricFamily(
            metric_name("queue", "oldest_due_age", "seconds"),
            "How long the oldest due item has waited (0 when none is due)",
            labels=["queue"],
        )
        for name, state in states.items():
            depth.add_metric([name], state.due)
            waited = 0.0
            if state.oldest_due is not None:
                waited = max(0.0, (now - ensure_utc(state.oldest_due)).total_seconds())
            age.add_metric([name], waited)
        yield depth
        yield age


_collectors: dict[str, Collector] = {}


def register_collector(key: str, collector: Collector) -> None:
    """Register `collector` under `key`, replacing the one registered before under it (a
    role built twice in one process, tests)."""
    with _lock:
        old = _collectors.pop(key, None)
        if old is not None:
            REGISTRY.unregister(old)
        REGISTRY.register(collector)
        _collectors[key] = collector


def exposition() -> tuple[bytes, str]:
    """This process' metrics in the text format, and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
