"""Scope and observability pieces composed into the crawl by settings: per-site page caps, the
Redis seen-set that honours re-crawl epochs, the Redis scheduler that waits out a Redis outage,
and the Rich progress display."""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter, deque
from typing import Any

from scrapy import signals
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy_redis.dupefilter import RFPDupeFilter as RedisRFPDupeFilter
from scrapy_redis.queue import PriorityQueue as RedisPriorityQueue
from scrapy_redis.scheduler import Scheduler as RedisScheduler
from twisted.internet import task

from orbweaver.crawl.runtime import runtime_of
from orbweaver.supervise import Backoff, Patience, is_transient

logger = logging.getLogger(__name__)


class HostBudgetMiddleware:
    """Downloader middleware: every request takes a slot of its host's budget shared with the
    media workers (and with every machine, through Redis), `crawl.politeness`; Scrapy's own
    per-domain limits stay as a bound inside this process. Only when media workers run or
    Redis is configured: otherwise Scrapy's limits are the whole budget."""

    META = "_orbweaver_host_slot"

    def __init__(self, budget: Any) -> None:
        self.budget = budget

    @classmethod
    def from_crawler(cls, crawler: Any) -> HostBudgetMiddleware:
        from orbweaver.crawl.politeness import host_budget

        runtime = runtime_of(crawler)
        options = runtime.options if runtime else None
        if options is None or not (options.media_workers or options.redis_url):
            raise NotConfigured
        budget = host_budget(options)
        if budget is None:
            raise NotConfigured
        mw = cls(budget)
        crawler.signals.connect(mw.closed, signal=signals.spider_closed)
        return mw

    async def process_request(self, request: Any, spider: Any = None) -> None:
        from orbweaver.crawl.politeness import acquire
        from orbweaver.crawl.spider import host_of

        host = host_of(request.url)
        request.meta[self.META] = (host, await acquire(self.budget, host))

    def _release(self, request: Any) -> None:
        held = request.meta.pop(self.META, None)
        if held is not None:
            self.budget.release(*held)

    def process_response(self, request: Any, response: Any, spider: Any = None) -> Any:
        self._release(request)
        return response

    def process_exception(self, request: Any, exception: Exception, spider: Any = None) -> None:
        self._release(request)

    def closed(self, spider: Any = None) -> None:
        self.budget.close()


class SiteCapMiddleware:
    """Downloader middleware: at most `max_pages_per_site` pages per host, so one endless site
    (calendars, generated pages) cannot starve the others. Media are not capped here."""

    def __init__(self, cap: int, crawler: Any) -> None:
        self.cap = cap
        self.crawler = crawler
        self.pages: Counter[str] = Counter()
        self.warned: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Any) -> SiteCapMiddleware:
        runtime = runtime_of(crawler)
        options = runtime.options if runtime else None
        if options is None or options.max_pages_per_site <= 0:
            raise NotConfigured
        return cls(options.max_pages_per_site, crawler)

    def process_request(self, request: Any, spider: Any = None) -> None:
        if request.meta.get("kind", "page") != "page" or request.meta.get("redirect_times"):
            return
        from orbweaver.crawl.spider import host_of

        host = host_of(request.url)
        self.pages[host] += 1
        if self.pages[host] <= self.cap:
            return
        if host not in self.warned:
            self.warned.add(host)
            logger.warning(
                "site %s reached its cap of %d pages; further pages skipped", host, self.cap
            )
        self.crawler.stats.inc_value("orbweaver/site_cap_skipped")
        raise IgnoreRequest(f"site page cap {self.cap} reached for {host}")


class EpochRedisDupeFilter(RedisRFPDupeFilter):
    """scrapy-redis's shared seen-set, with the re-crawl epoch in the fingerprint (see
    `spider.EpochFingerprinter`): every process agrees on what was fetched."""

    def request_fingerprint(self, request: Any) -> str:
        base: str = super().request_fingerprint(request)
        epoch = request.meta.get("epoch")
        if not epoch:
            return base
        return hashlib.sha1((base + epoch).encode()).hexdigest()


class PopMinPriorityQueue(RedisPriorityQueue):
    """scrapy-redis's shared priority queue, popped with one ZPOPMIN (Redis 5+) instead of a
    MULTI/ZRANGE/ZREMRANGEBYRANK/EXEC transaction: the same atomic pop of the lowest score (ties
    in the same order), one command instead of four. The pop ran once per request on the
    reactor thread and was a fifth of it with two processes on one frontier (py-spy)."""

    def pop(self, timeout: int = 0) -> Any:
        popped = self.server.zpopmin(self.key)
        if popped:
            return self._decode_request(popped[0][0])
        return None


class PatientRedisScheduler(RedisScheduler):
    """scrapy-redis's scheduler, made to wait out a Redis that is unreachable or restarting.

    scrapy-redis lets the Redis error out of every scheduler call. Scrapy then logs a traceback
    per call; a request the spider yielded (a link, a media URL) is dropped; and an idle check
    that met the outage let the spider close as "finished", which ended the crawl role (the
    supervisor restarted it, the links found meanwhile were lost). Here a transient Redis error
    is said once in the log (and once when Redis is back, `Patience`): requests to schedule are
    held in memory, in order, and pushed first when Redis answers again (a request whose seen
    mark was set before the push failed is not checked again, so it is not taken for a
    duplicate of itself); nothing is handed out meanwhile, so fetching pauses and what is held
    is bounded by the responses already in flight; and the frontier counts as not empty, so the
    spider does not close. Redis is tried again at the engine's next call after the backoff.
    Any other error is raised, as before."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # each held entry: [request, seen-mark already set]
        self.held: deque[list[Any]] = deque()
        self.patience = Patience(
            "crawl: Redis frontier (requests held, fetching paused)", Backoff(0.5, 15.0), logger
        )
        self._retry_at = 0.0

    def _unreachable(self, exc: Exception) -> None:
        if not is_transient(exc):
            raise exc
        self._retry_at = time.monotonic() + self.patience.failed(exc)

    def _reachable(self) -> None:
        self._retry_at = 0.0
        self.patience.succeeded()

    def _backing_off(self) -> bool:
        return time.monotonic() < self._retry_at

    def open(self, spider: Any) -> None:
        try:
            super().open(spider)  # counts the queue last, to log a resumed crawl
        except Exception as exc:
            self._unreachable(exc)

    def _push(self, entry: list[Any]) -> bool:
        """Check the seen-set (once) and queue the request; False for a duplicate."""
        request = entry[0]
        if not entry[1] and not request.dont_filter:
            if self.df.request_seen(request):
                self.df.log(request, self.spider)
                return False
            entry[1] = True
        self.queue.push(request)
        if self.stats:
            self.stats.inc_value("scheduler/enqueued/redis")
        return True

    def _drain(self) -> bool:
        """Push the held requests, oldest first; False while Redis is still unreachable."""
        if self._backing_off():
            return False
        while self.held:
            try:
                self._push(self.held[0])
            except Exception as exc:
                self._unreachable(exc)
                return False
            self.held.popleft()
        return True

    def enqueue_request(self, request: Any) -> bool:
        entry = [request, False]
        if self.held or self._backing_off():
            self.held.append(entry)
            self._drain()
            return True
        try:
            return self._push(entry)
        except Exception as exc:
            self._unreachable(exc)
            self.held.append(entry)
            return True

    def next_request(self) -> Any:
        if not self._drain():
            return None
        try:
            request = self.queue.pop(self.idle_before_close)
        except Exception as exc:
            self._unreachable(exc)
            return None
        self._reachable()
        if request is not None and self.stats:
            self.stats.inc_value("scheduler/dequeued/redis")
        return request

    def has_pending_requests(self) -> bool:
        if self.held or self._backing_off():
            return True
        try:
            return len(self.queue) > 0
        except Exception as exc:
            self._unreachable(exc)
            return True  # unknown: not idle, so the spider does not close

    def close(self, reason: str) -> None:
        self._retry_at = 0.0  # one last try, backoff or not
        if self.held and not self._drain():
            logger.warning(
                "crawl: Redis frontier unreachable at close: %d request(s) not queued "
                "(found again at the next crawl of their pages)",
                len(self.held),
            )
        super().close(reason)


COUNTERS = ("pages", "media", "detections", "suspects", "errors")


class ProgressExtension:
    """A Rich live display on stderr: totals and per-second rates of pages, media, detections,
    suspects and errors."""

    def __init__(self, crawler: Any) -> None:
        from rich.console import Console
        from rich.live import Live

        self.crawler = crawler
        self.console = Console(stderr=True)
        self.live = Live(console=self.console, refresh_per_second=4, transient=False)
        self.started = time.monotonic()
        self.last: tuple[float, dict[str, int]] = (self.started, dict.fromkeys(COUNTERS, 0))
        self.rates = dict.fromkeys(COUNTERS, 0.0)
        self.loop = task.LoopingCall(self.update)
        # with media workers: the queue's depth, read from the store every 2 s, and the media
        # URLs the workers finished (handed over minus still queued), with their rate
        self.queue_depth: int | None = None
        self.worked: tuple[float, int, float] = (self.started, 0, 0.0)
        self.depth_loop: task.LoopingCall | None = None
        runtime = runtime_of(crawler)
        if runtime is not None and runtime.options.media_workers and runtime.store is not None:
            from orbweaver.crawl.mediaqueue import media_queue

            options = runtime.options
            queue = media_queue(
                runtime.store, "progress", redis_url=options.redis_url, prefix=options.redis_prefix
            )
            self.depth_loop = task.LoopingCall(self._poll_depth, queue)

    @classmethod
    def from_crawler(cls, crawler: Any) -> ProgressExtension:
        runtime = runtime_of(crawler)
        options = runtime.options if runtime else None
        if options is None or not options.progress:
            raise NotConfigured
        ext = cls(crawler)
        crawler.signals.connect(ext.opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.closed, signal=signals.spider_closed)
        return ext

    def opened(self, spider: Any = None) -> None:
        self.live.start()
        self.loop.start(0.5)
        if self.depth_loop is not None:
            self.depth_loop.start(2.0)

    def _poll_depth(self, queue: Any) -> Any:
        from twisted.internet.threads import deferToThread

        def got(depth: int) -> None:
            self.queue_depth = depth

        d = deferToThread(queue.depth)
        d.addCallbacks(got, lambda failure: None)  # a store outage: the last figure stays
        return d

    def closed(self, spider: Any = None) -> None:
        if self.depth_loop is not None and self.depth_loop.running:
            self.depth_loop.stop()
        if self.loop.running:
            self.loop.stop()
        self.update()
        self.live.stop()

    def totals(self) -> dict[str, int]:
        stats = self.crawler.stats
        return {name: int(stats.get_value(f"orbweaver/{name}", 0)) for name in COUNTERS}

    def update(self) -> None:
        from rich.table import Table

        now, totals = time.monotonic(), self.totals()
        then, before = self.last
        if now - then >= 1.0:
            self.rates = {k: (totals[k] - before[k]) / (now - then) for k in COUNTERS}
            self.last = (now, totals)
        table = Table(title=f"orbweaver crawl · {now - self.started:,.0f}s", expand=False)
        table.add_column("")
        table.add_column("total", justify="right")
        table.add_column("per second", justify="right")
        for name in COUNTERS:
            table.add_row(name, f"{totals[name]:,}", f"{self.rates[name]:,.1f}")
        if self.queue_depth is not None:
            queued = int(self.crawler.stats.get_value("orbweaver/media_queued", 0))
            worked = max(0, queued - self.queue_depth)
            then_w, before_w, rate = self.worked
            if now - then_w >= 2.0:
                rate = (worked - before_w) / (now - then_w)
                self.worked = (now, worked, rate)
            table.add_row("media (workers)", f"{worked:,}", f"{self.worked[2]:,.1f}")
            table.add_row("media queue", f"{self.queue_depth:,}", "")
        self.live.update(table)
