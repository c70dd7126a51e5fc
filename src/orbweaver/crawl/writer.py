"""The store writer: fingerprinted media become media, sightings, detections and suspects
(sealed), page visits go on the re-crawl schedule, media URLs go on the media queue, in one
transaction a batch. Used by the page crawl's pipeline (Scrapy) and by the media workers.

Rows are inserted in bulk (one statement per table: the ORM's unit of work cost more than the
SQL itself, a sixth of a crawler's CPU per picture). Unmatched media seen on a host shortly
*before* its first detection wait in a bounded in-memory limbo, sealed, and are promoted when
the detection arrives.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from orbweaver.banks import check_floods
from orbweaver.crawl.frontier import PageVisit, record_pages
from orbweaver.crawl.items import MediaItem
from orbweaver.crawl.options import CrawlOptions
from orbweaver.store import (
    CompactSignals,
    CompactVideo,
    EventKind,
    Store,
    count_error_day,
    count_host_day,
    record_event,
    store_time,
    write_seen,
    write_signals,
    write_videos,
)
from orbweaver.store.models import (
    Detection,
    EvidenceRecord,
    Media,
    MediaTask,
    Sighting,
    Suspect,
)

logger = logging.getLogger(__name__)


class SightingWriter:
    """Writes batches; keeps bytes only for suspects, sealed. `count(name, n)` receives the
    work done (sightings, detections, suspects...) once a batch is committed."""

    def __init__(
        self,
        store: Store,
        clock: Any,
        options: CrawlOptions,
        suspect_key: str,
        count: Callable[[str, int], None],
    ) -> None:
        self.store = store
        self.clock = clock
        self.options = options
        self.count = count
        self.vault = self._vault(suspect_key)
        self.limbo: list[_Pending] = []
        self.limbo_bytes = 0
        self._refused_warned = False
        self._limbo_warned = False

    @staticmethod
    def _vault(key: str) -> Any:
        if not key:
            logger.warning(
                "no ORBWEAVER_SUSPECT_KEY: suspects will not be kept (bytes never stored in clear)"
            )
            return None
        from orbweaver.store import Vault

        return Vault(key)

    def write(
        self,
        media: list[MediaItem],
        pages: list[PageVisit] = (),  # type: ignore[assignment]
        tasks: list[dict[str, Any]] = (),  # type: ignore[assignment]
        done: list[int] = (),  # type: ignore[assignment]
    ) -> None:
        """One batch in one transaction: media, sightings, detections, suspects, page visits,
        media URLs queued (`tasks`) and queue entries done (`done`, deleted).

        Another crawler process may insert the same media at the same moment: on a unique
        violation the batch is retried once, and then finds the other process's row."""
        from orbweaver.crawl.metrics import note_error, take_errors

        for attempt in (1, 2):
            limbo = list(self.limbo)
            errors = take_errors()  # this process's failures by kind, since the last batch
            try:
                self._write(media, pages, tasks, done, errors)
                return
            except sa.exc.IntegrityError:
                self.limbo = limbo  # the rolled-back transaction's sightings never existed
                for kind, n in errors.items():
                    note_error(kind, n)
                if attempt == 2:
                    raise
            except BaseException:
                self.limbo = limbo
                for kind, n in errors.items():
                    note_error(kind, n)
                raise

    def _write(
        self,
        media: list[MediaItem],
        pages: list[PageVisit],
        tasks: list[dict[str, Any]],
        done: list[int],
        errors: dict[str, int] | None = None,
    ) -> None:
        """One transaction a batch, rows inserted in bulk (one statement per table: the ORM's
        unit of work cost more than the SQL itself, a sixth of a crawler's CPU per picture)."""
        now = self.clock.now()
        naive = store_time(now)
        stats = {"detections": 0, "suspects": 0, "sightings": len(media)}
        evidence_bytes = 0
        # encoded before the transaction, not inside it; one list per matched item
        blobs = _evidence_blobs([item for item in media if item.matches], now)
        with self.store.session() as session:
            if media:
                stats["detections"], stats["suspects"], evidence_bytes = self._media(
                    session, media, now, blobs
                )
            record_pages(session, pages, now, self.options.recrawl_interval_s)
            if errors:
                count_error_day(session, errors, now)
            if tasks:
                session.execute(
                    sa.insert(MediaTask),
                    [{**t, "enqueued_at": naive, "lease_until": 0.0} for t in tasks],
                )
            if done:
                session.execute(sa.delete(MediaTask).where(MediaTask.id.in_(list(done))))
            if stats["detections"] or stats["suspects"]:
                record_event(session, self.clock, EventKind.CRAWL_BATCH, payload=dict(stats))
        for item in media:
            item.data = None  # the bytes go now; only a sealed copy (suspects) remains
        for key, value in stats.items():
            self.count(key, value)
        if evidence_bytes:
            self.count("evidence_bytes", evidence_bytes)

    def _media(
        self, session: Any, media: list[MediaItem], now: Any, blobs: list[list[Any]]
    ) -> tuple[int, int, int]:
        """Matched media first (their detections make their host one with detections in this
        batch), then the unmatched: in full on hosts with detections (suspects), compactly
        elsewhere (`orbweaver.store.compact`, issue 22) unless `unmatched` is "full".
        Detections get their evidence (`blobs`, one list per matched item, in order).
        Returns (detections, suspects, evidence bytes)."""
        naive = store_time(now)
        ids = self._known_media(session, media)
        matched = [item for item in media if item.matches]
        unmatched = [item for item in media if not item.matches]
        sighting_ids = self._insert_full(session, matched, ids, naive)
        detections = [
            {
                "sighting_id": sighting_id,
                "bank_entry_id": match.entry_id,
                "signal_type": match.signal_type,
                "distance": match.distance,
                "category": match.category,
                "detected_at": naive,
                "held": match.held,
            }
            for item, sighting_id in zip(matched, sighting_ids, strict=True)
            for match in item.matches
        ]
        evidence_bytes = 0
        if detections:
            session.execute(sa.insert(Detection), detections)
            # a flood of one entry's matches quarantines it: its detections are held
            check_floods(session, self.clock, [d["bank_entry_id"] for d in detections])
            evidence = _evidence_rows(blobs, sighting_ids, naive)
            if evidence:
                session.execute(sa.insert(EvidenceRecord), evidence)
            evidence_bytes = sum(r["size_bytes"] for r in evidence)
        wanted = set().union(*(_hosts(i) for i in unmatched), *(p.hosts for p in self.limbo))
        hit = self._hit_hosts(session, wanted)
        full = [i for i in unmatched if self.options.unmatched == "full" or _hosts(i) & hit]
        compact = [
            i for i in unmatched if not (self.options.unmatched == "full" or _hosts(i) & hit)
        ]
        full_ids = self._insert_full(session, full, ids, naive)
        suspects = self._suspects(session, full, full_ids, compact, ids, hit, naive)
        self._write_compact(session, compact, ids, now)
        write_videos(session, _videos(media), now)
        counts: dict[str, tuple[int, int]] = {}
        for item in media:
            fetched, nothing = counts.get(item.host, (0, 0))
            counts[item.host] = (fetched + 1, nothing + (0 if item.matches else 1))
        count_host_day(session, counts, now)
        return len(detections), suspects, evidence_bytes

    @staticmethod
    def _known_media(session: Any, media: list[MediaItem]) -> dict[str, int]:
        """Media already kept in full, by sha256."""
        wanted = list({item.signals.sha256 for item in media})
        return dict(
            session.execute(sa.select(Media.sha256, Media.id).where(Media.sha256.in_(wanted))).all()
        )

    @staticmethod
    def _insert_full(
        session: Any, items: list[MediaItem], ids: dict[str, int], naive: Any
    ) -> list[int]:
        """Media rows (new ones) and sighting rows for `items`; the sightings' ids, in order.
        `ids` gains the new media."""
        if not items:
            return []
        wanted = {item.signals.sha256: item.signals for item in items}
        new = [
            {
                "sha256": sha256,
                "sha1": sig.sha1,
                "md5": sig.md5,
                "pdq": sig.pdq,
                "pdq_quality": sig.pdq_quality,
                "size_bytes": sig.size_bytes,
                "mime_type": sig.mime_type,
                "first_seen_at": naive,
            }
            for sha256, sig in wanted.items()
            if sha256 not in ids
        ]
        if new:
            ids.update(
                session.execute(sa.insert(Media).returning(Media.sha256, Media.id), new).all()
            )
        rows = [
            {
                "media_id": ids[item.signals.sha256],
                "url": item.url,
                "page_url": item.page_url,
                "host": item.host,
                "network": item.network,
                "reached_from_tor": item.reached_from_tor,
                "archive_url": item.archive_url,
                "member_path": item.member_path,
                "seen_at": naive,
            }
            for item in items
        ]
        returning = sa.insert(Sighting).returning(Sighting.id, sort_by_parameter_order=True)
        return list(session.scalars(returning, rows))

    @staticmethod
    def _hit_hosts(session: Any, hosts: set[str]) -> set[str]:
        """Which of `hosts` have a detection (this batch's included)."""
        if not hosts:
            return set()
        return set(
            session.scalars(
                sa.select(Sighting.host)
                .join(Detection, Detection.sighting_id == Sighting.id)
                .where(Sighting.host.in_(list(hosts)))
                .distinct()
            )
        )

    def _write_compact(
        self, session: Any, items: list[MediaItem], ids: dict[str, int], now: Any
    ) -> None:
        """Signals (unless the media is kept in full), the URL seen on its host."""
        if not items:
            return
        write_signals(
            session,
            (
                CompactSignals.of(i.signals.sha256, i.signals.md5, i.signals.sha1, _pdq(i, self))
                for i in items
                if i.signals.sha256 not in ids
            ),
            now,
        )
        by_host: dict[str, list[str]] = {}
        for item in items:
            by_host.setdefault(item.host, []).append(item.url)
        write_seen(session, by_host, now)

    def _suspects(
        self,
        session: Any,
        full: list[MediaItem],
        sighting_ids: list[int],
        compact: list[MediaItem],
        media_ids: dict[str, int],
        hit_hosts: set[str],
        naive: Any,
    ) -> int:
        """Unmatched media on a host that already has detections become suspects (sealed).

        Media seen on a host shortly *before* its first detection (same crawl pass, an earlier
        batch) wait in a bounded in-memory limbo, sealed, and are promoted when the detection
        arrives; they are forgotten after `suspect_limbo_s`. A compactly kept one gets its
        full media and sighting rows when promoted.
        """
        candidates = [
            self._pending(item, sighting_id, media_ids.get(item.signals.sha256))
            for item, sighting_id in zip(full, sighting_ids, strict=True)
            if item.data is not None
        ] + [self._pending(item, None, None) for item in compact if item.data is not None]
        self._expire_limbo()
        waiting = self.limbo + candidates  # oldest first: the caps keep the newest
        if not waiting:
            return 0
        promoted: list[_Pending] = []
        self.limbo = []
        for pending in waiting:
            if not pending.hosts & hit_hosts:
                # without a key nothing is sealed, but the entry still waits (a few bytes), so a
                # detection in a later batch says that its host's suspects were not kept
                self.limbo.append(pending)
                continue
            if self.vault is None:
                if not self._refused_warned:
                    logger.warning(
                        "suspect on %s not kept: no ORBWEAVER_SUSPECT_KEY to seal it",
                        ", ".join(sorted(pending.hosts)),
                    )
                    self._refused_warned = True
                self.count("suspects_not_kept", 1)
                continue
            promoted.append(pending)
        kept = [
            {
                "sighting_id": sighting_id,
                "media_id": media_id,
                "status": "pending",
                "ciphertext": sealed,
                "created_at": naive,
            }
            for sighting_id, media_id, sealed in self._promote(session, promoted, media_ids, naive)
        ]
        if kept:
            session.execute(sa.insert(Suspect), kept)
        self._expire_limbo()
        return len(kept)

    def _pending(self, item: MediaItem, sighting_id: int | None, media_id: int | None) -> _Pending:
        sealed = b""
        if self.vault is not None and item.data is not None:
            sealed = self.vault.seal(item.data, context=item.signals.sha256.encode())
        kept = None if sighting_id is not None else item
        return _Pending(time.monotonic(), _hosts(item), sighting_id, media_id, sealed, kept)

    def _promote(
        self, session: Any, promoted: list[_Pending], media_ids: dict[str, int], naive: Any
    ) -> list[tuple[int, int, bytes]]:
        """(sighting id, media id, sealed bytes) of each promoted suspect; those kept compactly
        get their full media and sighting rows now. Pending entries are not changed: if the
        transaction rolls back, the limbo is restored as it was."""
        compact = [p.item for p in promoted if p.sighting_id is None and p.item is not None]
        # the batch's lookup covered only its own media: a promoted one may have a full row by
        # now (an earlier batch, or another crawler process, kept the same file in full)
        media_ids.update(self._known_media(session, compact))
        new_ids = iter(self._insert_full(session, compact, media_ids, naive))
        out = []
        for pending in promoted:
            if pending.sighting_id is not None and pending.media_id is not None:
                out.append((pending.sighting_id, pending.media_id, pending.sealed))
            elif pending.item is not None:
                media_id = media_ids[pending.item.signals.sha256]
                out.append((next(new_ids), media_id, pending.sealed))
        return out

    def _expire_limbo(self) -> None:
        """Forget what waited longer than `suspect_limbo_s`, then the oldest beyond the caps:
        `suspect_limbo_max` entries and `suspect_limbo_max_bytes` of sealed bytes (an entry
        can be a 64 MiB file, so a count alone does not bound memory)."""
        horizon = time.monotonic() - self.options.suspect_limbo_s
        fresh = [p for p in self.limbo if p.at >= horizon]
        budget, kept = self.options.suspect_limbo_max_bytes, 0
        start = len(fresh)
        while start > 0 and len(fresh) - start < self.options.suspect_limbo_max:
            size = len(fresh[start - 1].sealed)
            if kept + size > budget:
                break
            kept += size
            start -= 1
        if start:
            self.count("suspect_limbo_dropped", start)
            if not self._limbo_warned:
                self._limbo_warned = True
                logger.warning(
                    "suspect limbo full (%d entries, %d bytes sealed): the oldest unmatched "
                    "media waiting for a first detection on their host are forgotten",
                    len(fresh) - start,
                    kept,
                )
        self.limbo = fresh[start:]
        self.limbo_bytes = kept


def _evidence_blobs(media: list[MediaItem], now: Any) -> list[list[Any]]:
    """WARC records of every detection in the batch (`orbweaver.evidence`), per item: the page
    (its request, response and HTML) when this process holds it, and the media fetch (request,
    response headers, hashes and size; never its bytes). A page with several detections is
    encoded once a batch. Items without a match get none."""
    from orbweaver.evidence import media_blob, page_blob

    out: list[list[Any]] = []
    pages: dict[int, Any] = {}
    for item in media:
        blobs: list[Any] = []
        out.append(blobs)
        if not item.matches:
            continue
        if item.page is not None:
            key = id(item.page)
            if key not in pages:
                pages[key] = page_blob(item.page, now)
            blobs.append(pages[key])
        if item.exchange is not None:
            sig = item.signals
            facts = {
                "sha256": sig.sha256,
                "sha1": sig.sha1,
                "md5": sig.md5,
                "pdq": sig.pdq,
                "size_bytes": sig.size_bytes,
                "archive_url": item.archive_url,
                "member_path": item.member_path,
            }
            blobs.append(media_blob(item.exchange, facts, now))
    return out


def _evidence_rows(
    blobs: list[list[Any]], sighting_ids: list[int], naive: Any
) -> list[dict[str, Any]]:
    """The `EvidenceRecord` rows of the batch's blobs, now that the sightings have ids."""
    return [
        {
            "sighting_id": sighting_id,
            "kind": b.kind,
            "url": b.url,
            "captured_at": naive,
            "warc": b.warc,
            "sha256": b.sha256,
            "size_bytes": len(b.warc),
        }
        for item_blobs, sighting_id in zip(blobs, sighting_ids, strict=True)
        for b in item_blobs
    ]


@dataclass
class _Pending:
    """An unmatched sighting that becomes a suspect if its host gets a detection soon."""

    at: float
    hosts: set[str]
    sighting_id: int | None
    media_id: int | None
    sealed: bytes
    # what a compactly kept one needs for its full rows if promoted (bytes dropped)
    item: MediaItem | None = None


def _hosts(item: MediaItem) -> set[str]:
    """The hosts whose detections make `item` a suspect: its own and its page's."""
    from orbweaver.crawl.spider import host_of

    return {item.host, host_of(item.page_url) if item.page_url else item.host}


def _videos(media: list[MediaItem]) -> list[CompactVideo]:
    """The vPDQ frames of the batch's videos, matched or not, whatever layout their sightings
    take (the `media` row has no vPDQ): retroactive matching of videos reads them here."""
    from orbweaver.signals import VPDQ, parse_vpdq

    out = []
    for item in media:
        value = item.signals.extra.get(VPDQ.name)
        if not value:
            continue
        try:
            frames = parse_vpdq(value)
        except ValueError:
            logger.warning("vPDQ of %s unreadable, not kept", item.url)
            continue
        out.append(
            CompactVideo.of(item.signals.sha256, ((f.pdq, f.quality, f.timestamp) for f in frames))
        )
    return out


def _pdq(item: MediaItem, writer: SightingWriter) -> str | None:
    """PDQ worth keeping for retroactive matching: only above the quality the matcher uses."""
    sig = item.signals
    if sig.pdq is None or (sig.pdq_quality or 0) < writer.options.pdq_quality_min:
        return None
    return str(sig.pdq)
