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
import functools
import logging
import time
from typing import Any

from scrapy.exceptions import NotConfigured
from scrapy.utils.defer import deferred_from_coro, deferred_to_future
from twisted.internet import defer, task
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure

from orbweaver.crawl.frontier import PageVisit
from orbweaver.crawl.hashing import HashPool, default_processes, fingerprint
from orbweaver.crawl.items import MediaItem, MediaTaskItem, PageItem
from orbweaver.crawl.metrics import errors_pending
from orbweaver.crawl.runtime import require_runtime
from orbweaver.crawl.writer import SightingWriter
from orbweaver.signals import SignalError
from orbweaver.store import Store
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
                function=functools.partial(fingerprint, video_limits=self.options.video_limits),
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
                item.data,
                self.options.max_media_bytes,
                self.options.max_pixels,
                self.options.video_limits,
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
        self.writer = SightingWriter(
            runtime.store,
            runtime.clock,
            self.options,
            runtime.suspect_key,
            lambda key, n: self.crawler.stats.inc_value(f"orbweaver/{key}", n),
        )
        self.tasks: list[dict[str, Any]] = []
        self.redis_queue: Any = None  # media URLs go to the Redis Stream when Redis is set
        if self.options.media_workers and self.options.redis_url:
            from orbweaver.crawl.mediaqueue import RedisMediaQueue

            self.redis_queue = RedisMediaQueue(
                self.options.redis_url, self.options.redis_prefix, "page-crawl"
            )
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
        self.first_item: tuple[float, float] | None = None
        self.last_item: tuple[float, float] = (0.0, 0.0)

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
        elif isinstance(item, MediaTaskItem):
            self.tasks.append(item.row())
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
        return (
            len(self.media) >= batch
            or len(self.pages) >= 10 * batch
            or len(self.tasks) >= 10 * batch
        )

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
            if not self.media and not self.pages and not self.tasks and not errors_pending():
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
        while True:  # at least once: failures by kind may be all there is to write
            media, self.media = self.media[:batch], self.media[batch:]
            pages, self.pages = self.pages[: 10 * batch], self.pages[10 * batch :]
            tasks, self.tasks = self.tasks[: 10 * batch], self.tasks[10 * batch :]
            await self._store_batch(media, pages, tasks)
            if not (self.media or self.pages or self.tasks):
                return

    async def _store_batch(
        self, media: list[MediaItem], pages: list[PageVisit], tasks: list[dict[str, Any]]
    ) -> None:
        """Write one batch; while the store is unreachable keep it, pause fetching, back off
        and try again. A batch refused for another reason is logged and dropped."""
        while True:
            try:
                if tasks and self.redis_queue is not None:
                    # handed to the shared stream first: a retry of the store part does not
                    # hand them again, a crash before the commit re-fetches the page
                    await deferred_to_future(deferToThread(self.redis_queue.add, tasks))
                    tasks = []
                await deferred_to_future(deferToThread(self.writer.write, media, pages, tasks))
            except Exception as exc:
                if not is_transient(exc):
                    self.crawler.stats.inc_value("orbweaver/errors")
                    self.crawler.stats.inc_value("orbweaver/failed/store_write")
                    logger.exception(
                        "store write failed: %d media, %d page visit(s) and %d media URL(s) "
                        "not recorded",
                        len(media),
                        len(pages),
                        len(tasks),
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
