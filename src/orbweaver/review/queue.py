"""The suspect queue: one item per media, near-duplicates grouped, precomputed priority.

Suspects arrive from the crawl as `pending` rows (one per sighting). `ReviewQueue.sync()` turns
them into items: a media already on the allow-list is dismissed at once (bytes deleted), one
already decided gets its verdict applied, one near an open item joins that item's group, and
anything else becomes a new item with its priority computed. Serving the next item is then a
single index scan on (status, priority DESC, first_seen_at, id), whatever the queue's order
(`review_queue_order`): the order decides the integer stored in `priority` (review/priority.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from orbweaver.clock import Clock, ensure_utc
from orbweaver.review import decisions
from orbweaver.review.classifier import Classifier, ClassifierInput, load_classifier, safe_score
from orbweaver.review.pdqscan import PdqSet
from orbweaver.review.priority import PriorityInputs, explain, order_key
from orbweaver.review.settings import ReviewSettings
from orbweaver.store import Store
from orbweaver.store.models import (
    AllowListEntry,
    Assessment,
    Bank,
    BankEntry,
    Detection,
    Media,
    Notice,
    ReviewItem,
    ReviewSkip,
    Sighting,
    Suspect,
    Verdict,
)

OPEN = ("open", "adjudication")
_BATCH = 500
SYNC_LOCK = "review.sync"
# How long (the clock's time) the hosts' observed removal times are kept before a re-read.
_REMOVAL_TTL = timedelta(hours=1)


@dataclass
class SyncReport:
    """What one sync did, by outcome."""

    suspects: int = 0
    new_items: int = 0
    grouped: int = 0
    requeued: int = 0
    allowed: int = 0
    decided: int = 0


def _count_sync(report: SyncReport) -> None:
    """A sync's figures into the process' metrics (`orbweaver_review_*_total`)."""
    from orbweaver.ops import count

    count("review", "suspects_synced", report.suspects, doc="Suspects turned into items")
    count("review", "items_created", report.new_items, doc="Review items created")


class KnownPdqs:
    """PDQ entries of enabled banks, to measure how close a suspect is to known material."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._set = PdqSet()
        self._threshold: dict[int, int] = {}
        self._watermark = 0
        self._banks: tuple[object, ...] = ()

    def refresh(self) -> None:
        with self.store.session() as s:
            banks = tuple(s.execute(sa.select(Bank.id, Bank.enabled, Bank.pdq_threshold)).all())
            if banks != self._banks:  # a bank enabled/disabled/re-thresholded: reload all
                self._set, self._threshold, self._watermark = PdqSet(), {}, 0
                self._banks = banks
            enabled = {b[0]: b[2] for b in banks if b[1]}
            rows = s.execute(
                sa.select(BankEntry.id, BankEntry.bank_id, BankEntry.signal).where(
                    BankEntry.signal_type == "pdq",
                    BankEntry.id > self._watermark,
                    BankEntry.bank_id.in_(list(enabled) or [-1]),
                )
            ).all()
            self._watermark = s.scalar(sa.select(sa.func.max(BankEntry.id))) or 0
        self._set.add([r[2] for r in rows], [r[0] for r in rows])
        self._threshold.update({r[0]: enabled[r[1]] for r in rows})

    def nearest(self, pdq: str | None) -> tuple[int | None, int | None]:
        """(distance, that entry's bank threshold), or (None, None)."""
        if pdq is None:
            return None, None
        hit = self._set.nearest(pdq)
        return (None, None) if hit is None else (hit[1], self._threshold.get(hit[0]))


class ReviewQueue:
    """Ingests suspects and serves items. Holds two in-memory PDQ sets, so keep one per process."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        settings: ReviewSettings | None = None,
        *,
        classifier: Classifier | None = None,
        open_bytes: Callable[[int], bytes | None] | None = None,
    ) -> None:
        """`classifier`: the plug-in (None: the one `review_classifier` names, if any);
        `open_bytes`: media id -> its decrypted bytes, for a classifier that asks for them."""
        self.store = store
        self.clock = clock
        self.settings = settings or ReviewSettings()
        self.known = KnownPdqs(store)
        self._open = PdqSet()
        self._open_watermark = 0
        self.classifier = classifier or load_classifier(self.settings)
        self._open_bytes = open_bytes
        self._scores: dict[int, float | None] = {}
        self._removal: dict[str, tuple[float, float]] = {}
        self._removal_read: datetime | None = None
        self._verdicts: dict[str, tuple[int, int]] = {}
        self._all_verdicts = (0, 0)
        self._verdicts_read: datetime | None = None

    # --- ingest -------------------------------------------------------------------------

    def sync(self, *, batch: int = _BATCH, max_batches: int | None = None) -> SyncReport:
        """Process pending suspects, in batches, each batch one transaction: all of them, or at
        most `max_batches` batches (the web path's bounded share; the CLI drains the rest)."""
        report = self._sync(batch, max_batches)
        _count_sync(report)
        return report

    def _sync(self, batch: int, max_batches: int | None) -> SyncReport:
        report = SyncReport()
        self.known.refresh()
        batches = 0
        while max_batches is None or batches < max_batches:
            batches += 1
            with self.store.session() as s:
                # One process syncs at a time (the review-sync role, `serve`'s share, other
                # machines): two would make two items of one media, or miss a near-duplicate
                # the other just queued. The one that finds the lock taken leaves it be.
                if not self.store.try_lock(s, SYNC_LOCK):
                    return report
                self._load_open_items()  # items other processes queued meanwhile
                rows = s.execute(
                    sa.select(Suspect.id, Suspect.media_id)
                    .where(Suspect.status == "pending")
                    .order_by(Suspect.id)
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                ).all()
                if not rows:
                    return report
                by_media: dict[int, list[int]] = defaultdict(list)
                for suspect_id, media_id in rows:
                    by_media[media_id].append(suspect_id)
                for media_id, suspect_ids in by_media.items():
                    self._ingest(s, media_id, suspect_ids, report)
                report.suspects += len(rows)
        return report

    def _ingest(self, s: Session, media_id: int, suspect_ids: list[int], r: SyncReport) -> None:
        item = s.scalar(sa.select(ReviewItem).where(ReviewItem.media_id == media_id))
        media = s.get_one(Media, media_id)
        if item is not None and item.status == "decided":
            decisions.apply_existing_verdict(s, self.clock, item, suspect_ids)
            r.decided += 1
        elif item is not None:
            _mark(s, suspect_ids, "queued")
            self.recompute(s, item.group_id or item.id)
            r.requeued += 1
        elif is_allowed(s, media):
            decisions.dismiss_suspects(s, suspect_ids)
            r.allowed += 1
        else:
            item = self._new_item(s, media)
            _mark(s, suspect_ids, "queued")
            r.grouped += item.status == "grouped"
            r.new_items += item.status != "grouped"

    def _new_item(self, s: Session, media: Media) -> ReviewItem:
        now = self.clock.now()
        item = ReviewItem(
            media_id=media.id,
            status="open",
            priority=0,
            reasons=[],
            first_seen_at=now,
            last_seen_at=now,
            updated_at=now,
        )
        lead = self._group_lead(s, media.pdq)
        if lead is not None:
            item.status, item.group_id, item.group_distance = "grouped", lead[0], lead[1]
        s.add(item)
        s.flush()
        if lead is not None:
            self.recompute(s, lead[0])
            return item
        self.recompute(s, item.id)
        if media.pdq is not None:
            self._open.add([media.pdq], [item.id])
        return item

    def _group_lead(self, s: Session, pdq: str | None) -> tuple[int, int] | None:
        """An open item within the grouping distance, nearest first, if any."""
        if pdq is None:
            return None
        for item_id, distance in self._open.within(pdq, self.settings.review_group_distance):
            status = s.scalar(sa.select(ReviewItem.status).where(ReviewItem.id == item_id))
            if status in OPEN:
                return item_id, distance
        return None

    def _load_open_items(self) -> None:
        """Open items' PDQs not yet in memory (items decided since stay, and are re-checked)."""
        with self.store.session() as s:
            rows = s.execute(
                sa.select(ReviewItem.id, Media.pdq)
                .join(Media, Media.id == ReviewItem.media_id)
                .where(
                    ReviewItem.id > self._open_watermark,
                    ReviewItem.status.in_(OPEN),
                    Media.pdq.is_not(None),
                )
                .order_by(ReviewItem.id)
            ).all()
            newest = s.scalar(sa.select(sa.func.max(ReviewItem.id))) or 0
        self._open.add([r[1] for r in rows if r[1]], [r[0] for r in rows if r[1]])
        self._open_watermark = max(self._open_watermark, newest)

    # --- priority -----------------------------------------------------------------------

    def inputs(self, s: Session, item: ReviewItem) -> PriorityInputs:
        """Priority inputs over the item's media and its grouped near-duplicates."""
        media_ids = group_media_ids(s, item)
        count, first, last, hosts = s.execute(
            sa.select(
                sa.func.count(Sighting.id),
                sa.func.min(Sighting.seen_at),
                sa.func.max(Sighting.seen_at),
                sa.func.count(sa.distinct(Sighting.host)),
            ).where(Sighting.media_id.in_(media_ids))
        ).one()
        now = self.clock.now()
        first = ensure_utc(first) if first else now
        last = ensure_utc(last) if last else now
        top_host, detections = self._busiest_host(s, media_ids)
        distance, threshold = self.known.nearest(s.get_one(Media, item.media_id).pdq)
        window = timedelta(hours=self.settings.review_online_window_hours)
        removal = self.host_removal_days(s).get(top_host) if top_host else None
        by_host, overall = self.host_verdicts(s)
        return PriorityInputs(
            online=now - last <= window,
            last_seen_at=last,
            first_seen_at=first,
            sightings=count,
            hosts=hosts,
            top_host=top_host,
            host_detections=detections,
            pdq_distance=distance,
            pdq_threshold=threshold,
            classifier_score=self.classifier_score(s, item.media_id),
            removal_days=removal,
            assessments=item.assessments,
            host_verdicts=by_host.get(top_host, (0, 0)),
            all_verdicts=overall,
        )

    def classifier_score(self, s: Session, media_id: int) -> float | None:
        """The plugged-in classifier's score of one media, asked once and kept."""
        if self.classifier is None:
            return None
        if media_id not in self._scores:
            media = s.get_one(Media, media_id)
            urls = s.scalars(
                sa.select(Sighting.url).where(Sighting.media_id == media_id).limit(20)
            ).all()
            opener = self._open_bytes

            def load() -> bytes | None:
                return opener(media_id) if opener is not None else None

            view = ClassifierInput(media_id, media.sha256, media.pdq, tuple(urls), load)
            self._scores[media_id] = safe_score(self.classifier, view)
        return self._scores[media_id]

    def host_removal_days(self, s: Session) -> dict[str, tuple[float, float]]:
        """Each host's observed removal times (median, p90, days) over its removed notices,
        read again at most hourly (the clock's hours). Notices still online are left out, so a
        slow host looks faster than it is until its content goes: good to rank, not to report."""
        now = self.clock.now()
        if self._removal_read is not None and now - self._removal_read < _REMOVAL_TTL:
            return self._removal
        rows = s.execute(
            sa.select(Notice.host, Notice.first_sent_at, Notice.removed_at).where(
                Notice.removed_at.is_not(None), Notice.first_sent_at.is_not(None)
            )
        ).all()
        by_host: dict[str, list[float]] = defaultdict(list)
        for host, sent, removed in rows:
            if sent is not None and removed is not None:
                by_host[host].append(max((removed - sent).total_seconds(), 0.0) / 86400)
        self._removal = {h: _median_p90(days) for h, days in by_host.items() if len(days) >= 3}
        self._removal_read = now
        return self._removal

    def host_verdicts(self, s: Session) -> tuple[dict[str, tuple[int, int]], tuple[int, int]]:
        """Earlier verdicts per host (actionable, all; an item counts on every host it was
        seen on) and over all items, for `expected` without a classifier; read again at most
        hourly (the clock's hours), like the removal times."""
        now = self.clock.now()
        if self._verdicts_read is not None and now - self._verdicts_read < _REMOVAL_TTL:
            return self._verdicts, self._all_verdicts
        actionable = Verdict.category != decisions.NOT_ACTIONABLE
        rows = s.execute(
            sa.select(Sighting.host, actionable, sa.func.count(sa.distinct(Verdict.id)))
            .join(ReviewItem, ReviewItem.id == Verdict.item_id)
            .join(Sighting, Sighting.media_id == ReviewItem.media_id)
            .group_by(Sighting.host, actionable)
        ).all()
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for host, is_actionable, n in rows:
            counts[host][0] += int(n) if is_actionable else 0
            counts[host][1] += int(n)
        overall = s.execute(
            sa.select(sa.func.count(Verdict.id), sa.func.count(Verdict.id).filter(actionable))
        ).one()
        self._verdicts = {h: (a, n) for h, (a, n) in counts.items()}
        self._all_verdicts = (int(overall[1] or 0), int(overall[0] or 0))
        self._verdicts_read = now
        return self._verdicts, self._all_verdicts

    @staticmethod
    def _busiest_host(s: Session, media_ids: list[int]) -> tuple[str, int]:
        hosts = sa.select(Sighting.host).where(Sighting.media_id.in_(media_ids)).distinct()
        row = s.execute(
            sa.select(Sighting.host, sa.func.count(Detection.id).label("n"))
            .join(Detection, Detection.sighting_id == Sighting.id)
            .where(Sighting.host.in_(hosts))
            .group_by(Sighting.host)
            .order_by(sa.desc("n"))
            .limit(1)
        ).first()
        return (row[0], int(row[1])) if row else ("", 0)

    def recompute(self, s: Session, item_id: int) -> ReviewItem:
        """Refresh the stored score and reasons of one item (a write changed its inputs)."""
        item = s.get_one(ReviewItem, item_id)
        p = self.inputs(s, item)
        near = self.settings.review_near_distance
        defaults = (self.settings.review_removal_median_days, self.settings.review_removal_p90_days)
        item.priority = order_key(
            self.settings.review_queue_order,
            p,
            self.clock.now(),
            near=near,
            default_days=defaults,
            verdict_hours=self.settings.review_verdict_hours,
        )
        item.reasons = explain(p, self.clock.now(), near=near)
        item.sightings, item.host_detections = p.sightings, p.host_detections
        item.pdq_distance, item.online = p.pdq_distance, p.online
        item.first_seen_at = p.first_seen_at
        item.last_seen_at = p.last_seen_at
        item.updated_at = self.clock.now()
        return item

    def refresh_priorities(self, *, batch: int = 1000) -> int:
        """Recompute every open item: for time passing (online window) and new detections on
        their sites, which arrive without touching the item. Run it periodically."""
        self.known.refresh()
        self._removal_read = self._verdicts_read = None
        done, last = 0, 0
        while True:
            with self.store.session() as s:
                ids = s.scalars(
                    sa.select(ReviewItem.id)
                    .where(ReviewItem.status.in_(OPEN), ReviewItem.id > last)
                    .order_by(ReviewItem.id)
                    .limit(batch)
                ).all()
                for item_id in ids:
                    self.recompute(s, item_id)
            if not ids:
                return done
            done, last = done + len(ids), ids[-1]

    # --- serving ------------------------------------------------------------------------

    def next_item(self, s: Session, user_id: int) -> ReviewItem | None:
        """The highest-priority open item this analyst has not assessed."""
        return s.scalar(next_item_query(user_id, self.clock.now()))

    def top(self, s: Session, *, limit: int = 50, status: str = "open") -> list[ReviewItem]:
        return list(
            s.scalars(
                sa.select(ReviewItem)
                .where(ReviewItem.status == status)
                .order_by(ReviewItem.priority.desc(), ReviewItem.first_seen_at, ReviewItem.id)
                .limit(limit)
            )
        )


def next_item_query(user_id: int, now: datetime | None = None) -> sa.Select[ReviewItem]:
    """Walks the queue index from the top and stops at the first item the user has not seen
    (and, given `now`, that no other analyst holds a live claim on), so its cost does not grow
    with the queue's length."""
    seen = sa.exists().where(Assessment.item_id == ReviewItem.id, Assessment.user_id == user_id)
    query = sa.select(ReviewItem).where(ReviewItem.status == "open", ~seen)
    if now is not None:
        passed_over = sa.exists().where(
            ReviewSkip.item_id == ReviewItem.id,
            ReviewSkip.user_id == user_id,
            ReviewSkip.until > now,
        )
        query = query.where(
            sa.or_(
                ReviewItem.claimed_until.is_(None),
                ReviewItem.claimed_until <= now,
                ReviewItem.claimed_by == user_id,
            ),
            ~passed_over,
        )
    return query.order_by(
        ReviewItem.priority.desc(), ReviewItem.first_seen_at, ReviewItem.id
    ).limit(1)


def _median_p90(days: list[float]) -> tuple[float, float]:
    ordered = sorted(days)
    n = len(ordered)
    median = (ordered[(n - 1) // 2] + ordered[n // 2]) / 2
    return median, ordered[min(n - 1, int(0.9 * n))]


def group_media_ids(s: Session, item: ReviewItem) -> list[int]:
    """The item's media and those of the near-duplicates grouped with it."""
    members = s.scalars(sa.select(ReviewItem.media_id).where(ReviewItem.group_id == item.id))
    return [item.media_id, *members]


def is_allowed(s: Session, media: Media) -> bool:
    """True when the media's sha256 (or exact PDQ) was judged not actionable before."""
    keys = [("sha256", media.sha256)] + ([("pdq", media.pdq)] if media.pdq else [])
    clause = sa.or_(
        *(sa.and_(AllowListEntry.signal_type == t, AllowListEntry.signal == v) for t, v in keys)
    )
    return s.scalar(sa.select(AllowListEntry.id).where(clause).limit(1)) is not None


def _mark(s: Session, suspect_ids: list[int], status: str) -> None:
    s.execute(sa.update(Suspect).where(Suspect.id.in_(suspect_ids)).values(status=status))
