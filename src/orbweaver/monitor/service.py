"""Re-checks of noticed URLs: scheduling, claiming, outcomes, removal time.

Outcomes:
- `online`: the same bytes (sha256 of a noticed file), or different bytes whose PDQ is within
  the bank's threshold of a noticed file (a re-encode is still the same picture);
- `changed`: the URL answers with other content (a placeholder, another picture). The noticed
  picture is gone, so it counts as a miss like `offline`;
- `offline`: no content (404/410, refused, no DNS, timeout...). A miss is only a candidate:
  removal is *confirmed* after `offline_confirm_misses` consecutive misses, minutes apart, so one
  flaky answer never ends a notice.

Removal time is first notice → removal, the removal instant estimated as the midpoint of (last
seen online, first miss of the confirming streak] (`removal.py`, the definition every figure
uses); both ends are stored on the notice so reports can also treat it as interval-censored.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from orbweaver.clock import Clock
from orbweaver.monitor.cadence import record_cadence
from orbweaver.monitor.removal import removal_instant
from orbweaver.monitor.settings import MonitorSettings
from orbweaver.net import FetchResult, GuardedFetcher
from orbweaver.store import EventKind, Store, record_event, store_now
from orbweaver.store.models import (
    Bank,
    BankEntry,
    Check,
    Detection,
    Media,
    Notice,
    NoticeItem,
)

if TYPE_CHECKING:
    from orbweaver.supervise import Backoff

log = logging.getLogger(__name__)


def due_after(first_sent: datetime, checks_done: int, settings: MonitorSettings) -> datetime:
    """When the next scheduled check falls: the listed offsets, then every N hours."""
    offsets = settings.recheck_schedule_hours
    if checks_done < len(offsets):
        hours = offsets[checks_done]
    else:
        extra = checks_done - len(offsets) + 1
        hours = (offsets[-1] if offsets else 0.0) + extra * settings.recheck_every_hours
    return first_sent + timedelta(hours=hours)


def schedule_new(session: Session, settings: MonitorSettings, limit: int = 10_000) -> int:
    """Give a first check time to notices that were just sent. Rows another monitor is
    scheduling at the same moment are skipped (on PostgreSQL), not waited for: two monitors
    locking the same rows in different orders would deadlock."""
    query = (
        select(Notice)
        .where(
            Notice.status == "open",
            Notice.first_sent_at.is_not(None),
            Notice.next_check_at.is_(None),
        )
        .order_by(Notice.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = session.scalars(query).all()
    for n in rows:
        assert n.first_sent_at is not None
        n.next_check_at = due_after(n.first_sent_at, 0, settings)
    return len(rows)


def claim_due_checks(
    store: Store, clock: Clock, settings: MonitorSettings, limit: int
) -> list[int]:
    """Claim due notices for this worker (SKIP LOCKED on PostgreSQL, compare-and-set everywhere)."""
    now = store_now(clock)
    lease = now + timedelta(seconds=settings.monitor_lease_s)
    with store.session() as session:
        if schedule_new(session, settings):
            record_cadence(session, clock, settings)
        session.flush()
        query = (
            select(Notice.id, Notice.next_check_at)
            .where(Notice.status == "open", Notice.next_check_at <= now)
            .order_by(Notice.next_check_at, Notice.id)
            .limit(limit)
        )
        if store.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        claimed = []
        for notice_id, due in session.execute(query).all():
            res = session.execute(
                update(Notice)
                .where(Notice.id == notice_id, Notice.next_check_at == due)
                .values(next_check_at=lease)
            )
            if res.rowcount == 1:  # type: ignore[attr-defined]
                claimed.append(notice_id)
    return claimed


@dataclass
class Target:
    """What a check compares against: the noticed files' hashes."""

    notice_id: int
    url: str
    kind: str
    sha256: set[str] = field(default_factory=set)
    pdq: list[tuple[str, int]] = field(default_factory=list)
    baseline: str | None = None


def _targets(session: Session, ids: list[int]) -> list[Target]:
    """The targets of a claimed batch, in three queries whatever its size."""
    notices = {n.id: n for n in session.scalars(select(Notice).where(Notice.id.in_(ids)))}
    out = {i: Target(i, notices[i].url, notices[i].kind) for i in ids}
    for notice_id, sha, pdq, threshold in session.execute(
        select(NoticeItem.notice_id, Media.sha256, Media.pdq, Bank.pdq_threshold)
        .select_from(NoticeItem)
        .join(Media, Media.id == NoticeItem.media_id)
        .join(Detection, Detection.id == NoticeItem.detection_id)
        .join(BankEntry, BankEntry.id == Detection.bank_entry_id)
        .join(Bank, Bank.id == BankEntry.bank_id)
        .where(NoticeItem.notice_id.in_(ids))
    ):
        t = out[notice_id]
        t.sha256.add(sha)
        if pdq:
            t.pdq.append((pdq, threshold))
    archives = [i for i in ids if out[i].kind == "archive"]  # the baseline only matters there
    if archives:
        first = (
            select(Check.notice_id, func.min(Check.id).label("first_id"))
            .where(Check.notice_id.in_(archives), Check.outcome == "online")
            .group_by(Check.notice_id)
            .subquery()
        )
        for notice_id, first_sha in session.execute(
            select(Check.notice_id, Check.sha256).join(first, Check.id == first.c.first_id)
        ):
            out[notice_id].baseline = first_sha
    return [out[i] for i in ids]


def classify(target: Target, result: FetchResult) -> tuple[str, str]:
    """(`online` | `changed` | `offline` | `unknown`, detail) for one fetch. `unknown`:
    our own resolver gave no answer (a DNS outage), which says nothing about the content."""
    if result.inconclusive:
        return "unknown", result.error or "no DNS answer"
    if not result.ok:
        return "offline", result.error or f"HTTP {result.status}"
    if target.kind == "archive":
        if target.baseline is None or result.sha256 == target.baseline:
            return "online", "archive served"
        return "changed", "archive bytes differ from the first online check"
    if result.sha256 in target.sha256:
        return "online", "same bytes"
    distance = _pdq_distance(target, result.body or b"")
    if distance is not None:
        return "online", f"different bytes, PDQ distance {distance}"
    return "changed", "different content at the URL"


def _pdq_distance(target: Target, body: bytes) -> int | None:
    if not target.pdq or not body:
        return None
    try:
        from orbweaver.signals import compute_signals, hamming

        sig = compute_signals(body)
    except Exception:  # not an image, truncated...: no perceptual match
        return None
    if not sig.pdq:
        return None
    best = min((hamming(sig.pdq, pdq), threshold) for pdq, threshold in target.pdq)
    return best[0] if best[0] <= best[1] else None


# Answers that say the content is gone for good, not that the site is having a bad minute.
GONE_STATUSES = frozenset({404, 410, 451})


@dataclass(frozen=True)
class Precheck:
    """The re-check just before a first notice (issue 19), with the monitor's own fetch and
    hashing: `online` (the noticed bytes, or a picture within the bank's PDQ threshold),
    `gone` (other content at the URL, or 404/410/451) or `unclear` (a DNS outage, a timeout, a
    refused connection, a 5xx: nothing learnt about the content, so the notice is not dropped)."""

    outcome: str
    detail: str
    http_status: int | None


def precheck(store: Store, fetcher: GuardedFetcher, notice_id: int) -> Precheck:
    """Fetch a notice's URL and say whether its content is still there (see `Precheck`).
    Records nothing: the caller (the notifier) decides what a first notice does with it."""
    with store.session() as session:
        (target,) = _targets(session, [notice_id])
    result = fetcher.get(target.url, target.kind)
    outcome, detail = classify(target, result)
    if outcome == "online":
        return Precheck("online", detail, result.status)
    if outcome == "changed" or result.status in GONE_STATUSES:
        return Precheck("gone", detail, result.status)
    return Precheck("unclear", detail, result.status)


@dataclass
class MonitorStats:
    checked: int = 0
    online: int = 0
    changed: int = 0
    misses: int = 0
    confirmed: int = 0
    unknown: int = 0


def record(
    session: Session,
    clock: Clock,
    settings: MonitorSettings,
    notice_id: int,
    outcome: str,
    detail: str,
    result: FetchResult,
    stats: MonitorStats,
) -> None:
    """Apply one outcome to the notice: schedule, miss streak, confirmation, removal time."""
    now = store_now(clock)
    n = session.get_one(Notice, notice_id)
    if n.status != "open":
        return
    check = Check(
        notice_id=n.id,
        at=now,
        outcome=outcome,
        http_status=result.status,
        sha256=result.sha256,
        detail=detail[:1000],
    )
    session.add(check)
    stats.checked += 1
    n.checks_done += 1
    if outcome == "unknown":  # neither online nor a miss: try again a little later
        stats.unknown += 1
        n.next_check_at = now + timedelta(minutes=settings.offline_confirm_spacing_minutes)
        return
    if outcome == "online":
        stats.online += 1
        n.miss_count = 0
        n.first_offline_at = None
        n.last_online_at = now
        n.next_check_at = _next_regular(n, now, settings)
        return
    stats.misses += 1
    stats.changed += outcome == "changed"
    n.miss_count += 1
    n.first_offline_at = n.first_offline_at or now
    if n.miss_count < settings.offline_confirm_misses:
        n.next_check_at = now + timedelta(minutes=settings.offline_confirm_spacing_minutes)
        return
    _confirm_removal(session, clock, n, check, now)
    stats.confirmed += 1


def _next_regular(n: Notice, now: datetime, settings: MonitorSettings) -> datetime:
    """The first scheduled time after `now` (confirmation misses do not shift the schedule)."""
    assert n.first_sent_at is not None
    return next_scheduled(n.first_sent_at, now, settings)


def next_scheduled(first_sent: datetime, now: datetime, settings: MonitorSettings) -> datetime:
    for hours in settings.recheck_schedule_hours:
        due = first_sent + timedelta(hours=hours)
        if due > now:
            return due
    last = first_sent + timedelta(hours=(settings.recheck_schedule_hours or [0.0])[-1])
    every = timedelta(hours=settings.recheck_every_hours)
    return last + every * ((now - last) // every + 1)


def _confirm_removal(
    session: Session, clock: Clock, n: Notice, check: Check, now: datetime
) -> None:
    assert n.first_sent_at is not None and n.first_offline_at is not None
    check.confirmed = True
    lower = max(n.last_online_at or n.first_sent_at, n.first_sent_at)
    n.removed_at = removal_instant(n.first_sent_at, n.last_online_at, n.first_offline_at)
    n.offline_confirmed_at = now
    n.status = "removed"
    n.next_check_at = None
    n.next_followup_at = None
    record_event(
        session,
        clock,
        EventKind.NOTICE_REMOVED,
        subject_type="notice",
        subject_id=n.id,
        payload={
            "removal_seconds": (n.removed_at - n.first_sent_at).total_seconds(),
            "last_online_at": lower.isoformat(),
            "first_offline_at": n.first_offline_at.isoformat(),
        },
    )


def check_due(
    store: Store,
    clock: Clock,
    fetcher: GuardedFetcher,
    settings: MonitorSettings,
    *,
    limit: int | None = None,
    stop: threading.Event | None = None,
) -> MonitorStats:
    """Claim due checks, fetch them concurrently, record the outcomes. When `stop` is set
    meanwhile, fetches not yet started are cancelled, the finished ones recorded, and the
    claims of the others handed back (due at once, for any monitor)."""
    stats = MonitorStats()
    ids = claim_due_checks(store, clock, settings, limit or settings.monitor_batch_size)
    if not ids:
        return stats
    with store.session() as session:
        targets = _targets(session, ids)
    done = _fetch_all(fetcher, targets, max(1, settings.monitor_concurrency), stop)
    with store.session() as session:
        for target, result in zip(targets, done, strict=True):
            if result is None:
                continue
            outcome, detail = classify(target, result)
            record(session, clock, settings, target.notice_id, outcome, detail, result, stats)
    unchecked = [t.notice_id for t, r in zip(targets, done, strict=True) if r is None]
    if unchecked:
        release_checks(store, clock, unchecked, settings)
    count_checks(stats)
    return stats


def _fetch_all(
    fetcher: GuardedFetcher,
    targets: list[Target],
    workers: int,
    stop: threading.Event | None,
) -> list[FetchResult | None]:
    """Each target's fetch result, or None for those cancelled because `stop` was set."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(fetcher.get, t.url, t.kind) for t in targets]
        pending = set(futures)
        while pending:
            _, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            if stop is not None and stop.is_set():
                for future in pending:
                    future.cancel()  # those already running finish (their timeout bounds it)
                break
    return [None if f.cancelled() else f.result() for f in futures]


def release_checks(store: Store, clock: Clock, ids: list[int], settings: MonitorSettings) -> int:
    """Hand back claimed checks that were not done: due now again (their claim set
    `next_check_at` to the end of the lease, which only these rows still carry)."""
    now = store_now(clock)
    with store.session() as session:
        res = session.execute(
            update(Notice)
            .where(Notice.id.in_(ids), Notice.status == "open", Notice.next_check_at > now)
            .values(next_check_at=now)
        )
        released = int(res.rowcount or 0)  # type: ignore[attr-defined]
    log.info("handed back %d claimed re-check(s) undone (stopping)", released)
    return released


def count_checks(stats: MonitorStats) -> None:
    """A batch's outcomes into the process' metrics (`orbweaver_monitor_*_total`)."""
    from orbweaver.ops import count

    doc = "Re-checks by outcome"
    count("monitor", "checks", stats.online, doc=doc, outcome="online")
    count("monitor", "checks", stats.changed, doc=doc, outcome="changed")
    count("monitor", "checks", stats.misses - stats.changed, doc=doc, outcome="offline")
    count("monitor", "checks", stats.unknown, doc=doc, outcome="unknown")
    count("monitor", "removals", stats.confirmed, doc="Removals confirmed")


def check_all_due(
    store: Store,
    clock: Clock,
    fetcher: GuardedFetcher,
    settings: MonitorSettings,
    *,
    stop: threading.Event | None = None,
    on_batch: Callable[[MonitorStats], None] | None = None,
) -> int:
    """Re-check batches until nothing is due (or `stop`); returns how many were checked."""
    total = 0
    while stop is None or not stop.is_set():
        stats = check_due(store, clock, fetcher, settings, stop=stop)
        if not stats.checked:
            return total
        total += stats.checked
        (on_batch or log_batch)(stats)
    return total


def log_batch(stats: MonitorStats) -> None:
    log.info(
        "monitor: checked %d: online %d, changed %d, misses %d, removed %d, unknown %d",
        stats.checked,
        stats.online,
        stats.changed,
        stats.misses,
        stats.confirmed,
        stats.unknown,
    )


def monitor_loop(
    store: Store,
    clock: Clock,
    fetcher: GuardedFetcher,
    settings: MonitorSettings,
    *,
    every_s: float,
    stop: threading.Event | None = None,
    backoff: Backoff | None = None,
    on_batch: Callable[[MonitorStats], None] | None = None,
) -> None:
    """Drain what is due every `every_s` seconds until `stop`, through outages
    (`supervise.run_loop`); a stop mid-batch hands back the checks not yet started."""
    from orbweaver.supervise import run_loop

    run_loop(
        lambda: check_all_due(store, clock, fetcher, settings, stop=stop, on_batch=on_batch),
        name="monitor",
        every_s=every_s,
        backoff=backoff,
        stop=stop,
    )
