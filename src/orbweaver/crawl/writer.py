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

from orbweaver.crawl.frontier import PageVisit, record_pages
from orbweaver.crawl.items import MediaItem
from orbweaver.crawl.options import CrawlOptions
from orbweaver.store import EventKind, Store, record_event, store_time
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
        for attempt in (1, 2):
            limbo = list(self.limbo)
            try:
                self._write(media, pages, tasks, done)
                return
            except sa.exc.IntegrityError:
                self.limbo = limbo  # the rolled-back transaction's sightings never existed
                if attempt == 2:
                    raise
            except Exception:
                self.limbo = limbo
                raise

    def _write(
        self,
        media: list[MediaItem],
        pages: list[PageVisit],
        tasks: list[dict[str, Any]],
        done: list[int],
    ) -> None:
        """One transaction a batch, rows inserted in bulk (one statement per table: the ORM's
        unit of work cost more than the SQL itself, a sixth of a crawler's CPU per picture)."""
        now = self.clock.now()
        naive = store_time(now)
        stats = {"detections": 0, "suspects": 0, "sightings": len(media)}
        evidence_bytes = 0
        blobs = _evidence_blobs(media, now)  # encoded before the transaction, not inside it
        with self.store.session() as session:
            sighting_ids: list[int] = []
            if media:
                ids = self._media_ids(session, media, naive)
                sighting_ids = self._insert_sightings(session, media, ids, naive)
                detections = [
                    {
                        "sighting_id": sighting_id,
                        "bank_entry_id": match.entry_id,
                        "signal_type": match.signal_type,
                        "distance": match.distance,
                        "category": match.category,
                        "detected_at": naive,
                    }
                    for item, sighting_id in zip(media, sighting_ids, strict=True)
                    for match in item.matches
                ]
                if detections:
                    session.execute(sa.insert(Detection), detections)
                    evidence = _evidence_rows(blobs, sighting_ids, naive)
                    if evidence:
                        session.execute(sa.insert(EvidenceRecord), evidence)
                    evidence_bytes = sum(r["size_bytes"] for r in evidence)
                stats["detections"] = len(detections)
                stats["suspects"] = self._suspects(session, media, sighting_ids, ids, naive)
            record_pages(session, pages, now, self.options.recrawl_interval_s)
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

    def _media_ids(self, session: Any, media: list[MediaItem], naive: Any) -> dict[str, int]:
        wanted = {item.signals.sha256: item.signals for item in media}
        ids: dict[str, int] = dict(
            session.execute(
                sa.select(Media.sha256, Media.id).where(Media.sha256.in_(list(wanted)))
            ).all()
        )
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
        return ids

    @staticmethod
    def _insert_sightings(
        session: Any, media: list[MediaItem], ids: dict[str, int], naive: Any
    ) -> list[int]:
        """The new sightings' ids, in the order of `media`."""
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
            for item in media
        ]
        returning = sa.insert(Sighting).returning(Sighting.id, sort_by_parameter_order=True)
        return list(session.scalars(returning, rows))

    def _suspects(
        self,
        session: Any,
        media: list[MediaItem],
        sighting_ids: list[int],
        media_ids: dict[str, int],
        naive: Any,
    ) -> int:
        """Unmatched media on a host that already has detections become suspects (sealed).

        Media seen on a host shortly *before* its first detection (same crawl pass, an earlier
        batch) wait in a bounded in-memory limbo, sealed, and are promoted when the detection
        arrives; they are forgotten after `suspect_limbo_s`.
        """
        from orbweaver.crawl.spider import host_of

        candidates: list[_Pending] = []
        for item, sighting_id in zip(media, sighting_ids, strict=True):
            if item.matches or item.data is None:
                continue
            hosts = {item.host, host_of(item.page_url) if item.page_url else item.host}
            sealed = b""
            if self.vault is not None:
                sealed = self.vault.seal(item.data, context=item.signals.sha256.encode())
            media_id = media_ids[item.signals.sha256]
            candidates.append(_Pending(time.monotonic(), hosts, sighting_id, media_id, sealed))
        self._expire_limbo()
        waiting = self.limbo + candidates  # oldest first: the caps keep the newest
        if not waiting:
            return 0
        wanted = set().union(*(p.hosts for p in waiting))
        hit_hosts = set(
            session.scalars(
                sa.select(Sighting.host)
                .join(Detection, Detection.sighting_id == Sighting.id)
                .where(Sighting.host.in_(list(wanted)))
                .distinct()
            )
        )
        kept: list[dict[str, Any]] = []
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
            kept.append(
                {
                    "sighting_id": pending.sighting_id,
                    "media_id": pending.media_id,
                    "status": "pending",
                    "ciphertext": pending.sealed,
                    "created_at": naive,
                }
            )
        if kept:
            session.execute(sa.insert(Suspect), kept)
        self._expire_limbo()
        return len(kept)

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
    sighting_id: int
    media_id: int
    sealed: bytes
