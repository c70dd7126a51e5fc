"""Item pipelines: fingerprint and match each media, then write sightings, detections and
suspects to the store in batches.

Hashing runs in a pool of worker processes (`crawl.hashing`), so downloads keep flowing on the
reactor while pictures are decoded on the other cores; matching runs in the reactor's thread pool
(the index kernels release the GIL). The store writer batches rows (one transaction per batch),
because one transaction per picture would make SQLite the crawl's bottleneck; the batch is flushed
every `flush_interval` seconds and on close, so a stopped crawl loses no sighting.

A store that is unreachable or restarting (a transient fault, `supervise.is_transient`) loses
nothing either: the batch stays in hand and is written again with backoff (said once in the log,
and once when it resumed), fetching pauses meanwhile and new items wait, so memory stays bounded
by what was already in flight. Only a batch the store refuses for good (a bug, bad data) is
dropped, with its traceback.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from scrapy.exceptions import NotConfigured
from scrapy.utils.defer import deferred_from_coro, deferred_to_future
from twisted.internet import defer, task
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure

from orbweaver.crawl.frontier import PageVisit, record_pages
from orbweaver.crawl.hashing import HashPool, default_processes, fingerprint
from orbweaver.crawl.items import MediaItem, PageItem
from orbweaver.crawl.runtime import require_runtime
from orbweaver.signals import SignalError
from orbweaver.store import EventKind, Store, record_event, store_time
from orbweaver.store.models import Detection, Media, Sighting, Suspect
from orbweaver.supervise import Backoff, Patience, is_transient

logger = logging.getLogger(__name__)


def crypto_only(data: bytes) -> Any:
    """Signals of a file that cannot be decoded (a truncated JPEG, a video): the exact hashes
    still match banks, only the perceptual hash is missing."""
    from orbweaver.signals import compute_exact_signals

    return compute_exact_signals(data)


class SignalsPipeline:
    """Media → signals → matches, off the reactor thread."""

    def __init__(self, crawler: Any) -> None:
        from orbweaver.banks import Matcher

        self.crawler = crawler
        runtime = require_runtime(crawler)
        self.options = runtime.options
        store = runtime.store
        if store is None:
            raise NotConfigured("no store")
        self.matcher = Matcher(store, quality_min=self.options.pdq_quality_min)
        self._refresher: task.LoopingCall | None = None
        self._refresh_patience = Patience("crawl: match index refresh", Backoff(), logger)
        self.pool: HashPool | None = None
        processes = self.options.hash_processes
        if processes is None:
            processes = default_processes()
        if processes > 0:
            self.pool = HashPool(
                processes,
                max_bytes=self.options.max_media_bytes,
                max_pixels=self.options.max_pixels,
            )

    @classmethod
    def from_crawler(cls, crawler: Any) -> SignalsPipeline:
        return cls(crawler)

    def open_spider(self, spider: Any = None) -> None:
        if self.pool is not None:
            self.pool.start()
            logger.info("hashing in %d worker process(es)", self.pool.processes)
        self.matcher.refresh()
        logger.info("match index: %d bank entries", self.matcher.size)
        self.crawler.stats.set_value("orbweaver/index_entries", self.matcher.size)
        self._refresher = task.LoopingCall(lambda: deferToThread(self._refresh))
        self._refresher.start(self.options.matcher_refresh_s, now=False)

    def _refresh(self) -> None:
        """A store outage skips a refresh (said once) instead of ending the refresh loop."""
        try:
            self.matcher.refresh()
        except Exception as exc:
            if not is_transient(exc):
                raise
            self._refresh_patience.failed(exc)
            return
        self._refresh_patience.succeeded()

    def close_spider(self, spider: Any = None) -> None:
        if self._refresher is not None and self._refresher.running:
            self._refresher.stop()
        if self.pool is not None:
            self.pool.close()

    async def process_item(self, item: Any, spider: Any = None) -> Any:
        if not isinstance(item, MediaItem):
            return item
        if self.pool is None:
            return await deferred_to_future(deferToThread(self._fingerprint, item))
        assert item.data is not None
        try:
            # the dihedral hashes come from the same decode: mirrored/rotated re-uploads match
            item.signals, dihedral = await self.pool.fingerprint(item.data)
        except SignalError as exc:
            return await deferred_to_future(deferToThread(self._undecodable, item, exc))
        finally:
            self.crawler.stats.set_value("orbweaver/hash_worker_cpu_s", self.pool.cpu_s)
        return await deferred_to_future(deferToThread(self._match, item, dihedral))

    def _fingerprint(self, item: MediaItem) -> MediaItem:
        """Hashing and matching in the reactor's thread pool (`hash_processes=0`)."""
        assert item.data is not None
        try:
            item.signals, dihedral = fingerprint(
                item.data, self.options.max_media_bytes, self.options.max_pixels
            )
        except SignalError as exc:
            return self._undecodable(item, exc)
        return self._match(item, dihedral)

    def _undecodable(self, item: MediaItem, exc: SignalError) -> MediaItem:
        assert item.data is not None
        where = f"{item.url} [{item.member_path}]" if item.member_path else item.url
        logger.warning("media %s not decoded (%s): recorded by exact hashes only", where, exc)
        self.crawler.stats.inc_value("orbweaver/undecodable")
        item.signals = crypto_only(item.data)
        return self._match(item, None)

    def _match(self, item: MediaItem, dihedral: list[str] | None) -> MediaItem:
        item.matches = self.matcher.match(item.signals, dihedral=dihedral).matches
        return item


class StoreWriterPipeline:
    """Writes media, sightings, detections and suspects; keeps bytes only for suspects, sealed."""

    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        runtime = require_runtime(crawler)
        if runtime.store is None or runtime.clock is None:
            raise NotConfigured("no store")
        self.options = runtime.options
        self.store: Store = runtime.store
        self.clock = runtime.clock
        self.vault = self._vault(runtime.suspect_key)
        self.media: list[MediaItem] = []
        self.pages: list[PageVisit] = []
        self._draining: defer.Deferred[None] | None = None
        self._drained: list[defer.Deferred[None]] = []
        self._store_back: list[defer.Deferred[None]] = []
        self.outage = False
        self.patience = Patience(
            "crawl: store writer (batch kept, fetching paused)",
            Backoff(self.options.store_retry_base_s, self.options.store_retry_cap_s),
            logger,
        )
        self._flusher: task.LoopingCall | None = None
        self._refused_warned = False
        self.limbo: list[_Pending] = []
        self.limbo_bytes = 0
        self._limbo_warned = False
        self.first_item: tuple[float, float] | None = None
        self.last_item: tuple[float, float] = (0.0, 0.0)

    @staticmethod
    def _vault(key: str) -> Any:
        if not key:
            logger.warning(
                "no ORBWEAVER_SUSPECT_KEY: suspects will not be kept (bytes never stored in clear)"
            )
            return None
        from orbweaver.store import Vault

        return Vault(key)

    @classmethod
    def from_crawler(cls, crawler: Any) -> StoreWriterPipeline:
        return cls(crawler)

    def open_spider(self, spider: Any = None) -> None:
        self._flusher = task.LoopingCall(self.flush)
        self._flusher.start(self.options.flush_interval_s, now=False)

    async def close_spider(self, spider: Any = None) -> None:
        if self._flusher is not None and self._flusher.running:
            self._flusher.stop()
        await deferred_to_future(self.flush())

    def process_item(self, item: Any, spider: Any = None) -> Any:
        # first/last item times (wall and process CPU): the benchmark's rates exclude start-up
        # and the idle wait; written to the stats at each flush, not per item
        self.last_item = (time.time(), time.process_time())
        if self.first_item is None:
            self.first_item = self.last_item
        if isinstance(item, MediaItem):
            self.media.append(item)
        elif isinstance(item, PageItem):
            self.pages.append(item.visit)
        if self._full():
            self.flush()
            if self.outage:
                # backpressure: the item waits (so its response's slot stays taken) until the
                # store is back, rather than the buffer growing while the store is down
                return self._store_is_back()
        return None

    async def _store_is_back(self) -> None:
        waiter: defer.Deferred[None] = defer.Deferred()
        self._store_back.append(waiter)
        await deferred_to_future(waiter)

    def _full(self) -> bool:
        batch = self.options.flush_batch
        return len(self.media) >= batch or len(self.pages) >= 10 * batch

    def flush(self) -> defer.Deferred[None]:
        """Write what is buffered, a batch at a time, in order; fires when the buffer is empty.

        One drain runs at a time and takes what arrives while it writes, so flushes called
        during a store outage add nothing to wait on but a callback."""
        if self.first_item is not None:
            stats = self.crawler.stats
            stats.set_value("orbweaver/first_item_at", self.first_item[0])
            stats.set_value("orbweaver/first_item_cpu", self.first_item[1])
            stats.set_value("orbweaver/last_item_at", self.last_item[0])
            stats.set_value("orbweaver/last_item_cpu", self.last_item[1])
        if self._draining is None:
            if not self.media and not self.pages:
                return defer.succeed(None)
            self._draining = deferred_from_coro(self._drain())
            self._draining.addBoth(self._drain_ended)
        done: defer.Deferred[None] = defer.Deferred()
        self._drained.append(done)
        return done

    def _drain_ended(self, result: Any) -> None:
        self._draining = None
        if isinstance(result, Failure):
            logger.error("store writer failed: %s", result.getTraceback())
        waiting, self._drained = self._drained, []
        for done in waiting:
            done.callback(None)

    async def _drain(self) -> None:
        batch = self.options.flush_batch
        while self.media or self.pages:
            media, self.media = self.media[:batch], self.media[batch:]
            pages, self.pages = self.pages[: 10 * batch], self.pages[10 * batch :]
            await self._store_batch(media, pages)

    async def _store_batch(self, media: list[MediaItem], pages: list[PageVisit]) -> None:
        """Write one batch; while the store is unreachable keep it, pause fetching, back off
        and try again. A batch refused for another reason is logged and dropped."""
        while True:
            try:
                await deferred_to_future(deferToThread(self._write_with_retry, media, pages))
            except Exception as exc:
                if not is_transient(exc):
                    self.crawler.stats.inc_value("orbweaver/errors")
                    logger.exception(
                        "store write failed: %d media and %d page visit(s) not recorded",
                        len(media),
                        len(pages),
                    )
                    return
                delay = self.patience.failed(exc)
                self._pause()
                await asyncio.sleep(delay)
                continue
            self.patience.succeeded()
            self._resume()
            return

    def _pause(self) -> None:
        if self.outage:
            return
        self.outage = True
        self.crawler.stats.inc_value("orbweaver/store_outages")
        engine = getattr(self.crawler, "engine", None)
        if engine is not None:
            engine.pause()

    def _resume(self) -> None:
        if not self.outage:
            return
        self.outage = False
        engine = getattr(self.crawler, "engine", None)
        if engine is not None:
            engine.unpause()
            slot = getattr(engine, "_slot", None)  # fetch again now, not at the next heartbeat
            if slot is not None:
                slot.nextcall.schedule()
        waiting, self._store_back = self._store_back, []
        for waiter in waiting:
            waiter.callback(None)

    def _write_with_retry(self, media: list[MediaItem], pages: list[PageVisit]) -> None:
        """Another crawler process may insert the same media at the same moment: on a unique
        violation the batch is retried once, and then finds the other process's row."""
        for attempt in (1, 2):
            limbo = list(self.limbo)
            try:
                self._write(media, pages)
                return
            except sa.exc.IntegrityError:
                self.limbo = limbo  # the rolled-back transaction's sightings never existed
                if attempt == 2:
                    raise
            except Exception:
                self.limbo = limbo
                raise

    def _write(self, media: list[MediaItem], pages: list[PageVisit]) -> None:
        """One transaction a batch, rows inserted in bulk (one statement per table: the ORM's
        unit of work cost more than the SQL itself, a sixth of a crawler's CPU per picture)."""
        now = self.clock.now()
        naive = store_time(now)
        stats = {"detections": 0, "suspects": 0, "sightings": len(media)}
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
                stats["detections"] = len(detections)
                stats["suspects"] = self._suspects(session, media, sighting_ids, ids, naive)
            record_pages(session, pages, now, self.options.recrawl_interval_s)
            if stats["detections"] or stats["suspects"]:
                record_event(session, self.clock, EventKind.CRAWL_BATCH, payload=dict(stats))
        for item in media:
            item.data = None  # the bytes go now; only a sealed copy (suspects) remains
        for key, value in stats.items():
            self.crawler.stats.inc_value(f"orbweaver/{key}", value)

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
                if self.vault is not None:
                    self.limbo.append(pending)
                continue
            if self.vault is None:
                if not self._refused_warned:
                    logger.warning(
                        "suspect on %s not kept: no ORBWEAVER_SUSPECT_KEY to seal it",
                        ", ".join(sorted(pending.hosts)),
                    )
                    self._refused_warned = True
                self.crawler.stats.inc_value("orbweaver/suspects_not_kept")
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
            self.crawler.stats.inc_value("orbweaver/suspect_limbo_dropped", start)
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


@dataclass
class _Pending:
    """An unmatched sighting that becomes a suspect if its host gets a detection soon."""

    at: float
    hosts: set[str]
    sighting_id: int
    media_id: int
    sealed: bytes
