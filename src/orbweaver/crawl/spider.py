"""The spider: fetch, decide what the bytes are, and turn them into items and more requests.

One callback for every response, because what a URL is (page, picture, video, archive) is known
only from its bytes. Requests carry in `meta` what the pipelines need to record a sighting: the
page that linked it, whether it was reached through Tor, and passwords offered next to archives.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import scrapy
from scrapy import signals
from scrapy.exceptions import DontCloseSpider, IgnoreRequest
from scrapy.http import HtmlResponse, Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.request import RequestFingerprinter
from twisted.python.failure import Failure

from orbweaver.crawl.extract import ARCHIVE_EXTENSIONS, MEDIA_EXTENSIONS, extension, extract
from orbweaver.crawl.frontier import PageVisit, Start, pending_starts
from orbweaver.crawl.items import MediaItem, MediaTaskItem, PageItem
from orbweaver.crawl.metrics import failure_kind
from orbweaver.crawl.runtime import CrawlRuntime, require_runtime
from orbweaver.crawl.sniff import sniff
from orbweaver.supervise import Backoff, Patience, is_transient

if TYPE_CHECKING:
    from orbweaver.crawl.options import CrawlOptions

logger = logging.getLogger(__name__)

PRIORITY = {"media": 20, "archive": 10, "page": 0}
# Hosts whose seen-URL digests a re-crawl keeps in memory (`OrbSpider._seen_before`).
SEEN_HOSTS = 64
SEEN_DIGESTS = 2_000_000  # ~100 MB of 8-byte digests in Python sets


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


class EpochFingerprinter(RequestFingerprinter):
    """Scrapy's fingerprint, plus the re-crawl epoch when there is one: a page due again gets a
    new fingerprint for that schedule slot, so the shared seen-set lets it through exactly once."""

    def fingerprint(self, request: scrapy.Request) -> bytes:
        base = super().fingerprint(request)
        epoch = request.meta.get("epoch")
        if not epoch:
            return base
        return hashlib.sha1(base + epoch.encode()).digest()


def _exchange(response: Response) -> Any:
    """The response's exchange for evidence: references to Scrapy's headers, no copy."""
    from orbweaver.evidence import Exchange

    request = response.request
    return Exchange(
        response.url,
        response.status,
        request.headers if request is not None else None,
        response.headers,
        request.method if request is not None else "GET",
    )


class OrbSpider(scrapy.Spider):
    name = "orbweaver"
    options: CrawlOptions
    runtime: CrawlRuntime

    def __init__(self, starts: list[Start], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.starts = starts
        self._idle_mark: int | None = None
        self._store_patience = Patience("crawl: reading due re-crawls", Backoff(), logger)
        self._archive_pool: ThreadPoolExecutor | None = None
        self._seen_hosts: dict[str, set[bytes]] = {}
        from orbweaver.evidence import EvidenceSettings, PageCache

        evidence = EvidenceSettings()
        # Pages with media links, held for the detections their media may make (bounded).
        self.pages = PageCache(evidence.evidence_page_cache_bytes)
        self.page_max_bytes = evidence.evidence_page_max_bytes

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> OrbSpider:
        spider: OrbSpider = super().from_crawler(crawler, *args, **kwargs)
        spider.runtime = require_runtime(crawler)
        spider.options = spider.runtime.options
        crawler.signals.connect(spider._idle, signal=signals.spider_idle)
        crawler.signals.connect(spider._close_archive_pool, signal=signals.spider_closed)
        return spider

    def _archives(self) -> ThreadPoolExecutor:
        """Archives unpack on their own few threads: `unar` and big inflations used to share
        the reactor's thread pool with DNS look-ups and store writes, and could starve them."""
        if self._archive_pool is None:
            self._archive_pool = ThreadPoolExecutor(
                max_workers=max(1, self.options.archive_workers),
                thread_name_prefix="orbweaver-archive",
            )
        return self._archive_pool

    def _close_archive_pool(self, spider: scrapy.Spider) -> None:
        if self._archive_pool is not None:
            self._archive_pool.shutdown(wait=False, cancel_futures=True)

    async def start(self) -> AsyncIterator[Any]:
        for start in self.starts:
            yield self._start_request(start)

    def _start_request(self, start: Start) -> scrapy.Request:
        return self.request(
            start.url,
            kind="page",
            depth=start.depth,
            page_url=None,
            via_tor=start.network_tor,
            seed=start.reason == "seed",
            epoch=start.epoch,
        )

    def request(
        self, url: str, *, kind: str, depth: int, page_url: str | None, **meta: Any
    ) -> scrapy.Request:
        return scrapy.Request(
            url,
            callback=self.parse,
            errback=self.failed,
            priority=PRIORITY[kind],
            meta={"kind": kind, "depth": depth, "page_url": page_url, **meta},
        )

    def _idle(self, spider: scrapy.Spider) -> None:
        """Without --until-idle the crawler is a daemon: when idle it picks up new reports and
        due re-crawls from the store, and otherwise waits for them.

        With --until-idle on a shared (Redis) frontier, an empty queue may only mean that
        another node is still fetching the pages that will fill it: a node closes after two
        idle checks in a row (Scrapy repeats them every few seconds) with no response received
        in between by it and nothing queued."""
        if self.options.until_idle:
            if not self.options.redis_url:
                return
            seen = int(self.crawler.stats.get_value("response_received_count", 0))
            if self._idle_mark != seen:
                self._idle_mark = seen
                raise DontCloseSpider
            return
        store, clock = self.runtime.store, self.runtime.clock
        if store is None or clock is None:
            return
        try:
            starts = pending_starts(store, clock, limit=10_000)
        except Exception as exc:  # the store down: a daemon waits for it, it does not end
            if not is_transient(exc):
                raise
            self._store_patience.failed(exc)
            raise DontCloseSpider from None
        self._store_patience.succeeded()
        for start in starts:
            self.crawler.engine.crawl(self._start_request(start))
        raise DontCloseSpider

    async def parse(self, response: Response) -> list[Any]:
        """Returns a list, not an async generator: Scrapy runs async generators' output through
        CONCURRENT_ITEMS asyncio tasks per response, which costs more than the page itself."""
        kind, mime = sniff(response.body)
        self.crawler.stats.inc_value(f"orbweaver/fetched/{kind}")
        if kind == "page":
            return self._page(response)
        if kind == "media":
            self.crawler.stats.inc_value("orbweaver/media")
            return [self._media_item(response, response.body)]
        if kind == "archive":
            return await self._archive(response, mime)
        logger.info(
            "skipped %s: neither page, media nor archive (%d bytes)",
            response.url,
            len(response.body),
        )
        return []

    def _reached_from_tor(self, response: Response) -> bool:
        return bool(response.meta.get("via_tor")) or response.meta.get("network") == "tor"

    def _media_item(self, response: Response, data: bytes, **extra: Any) -> MediaItem:
        page_url = response.meta.get("page_url")
        return MediaItem(
            url=response.url,
            host=host_of(response.url),
            page_url=page_url,
            network=response.meta.get("network", "clear"),
            reached_from_tor=self._reached_from_tor(response),
            data=data,
            exchange=_exchange(response),
            page=self.pages.get(page_url),
            **extra,
        )

    def _page(self, response: Response) -> list[Any]:
        if not isinstance(response, TextResponse):
            response = HtmlResponse(
                response.url, body=response.body, encoding="utf-8", request=response.request
            )
        depth = int(response.meta.get("depth", 0))
        opts = self.options
        try:
            root = response.selector.root
        except Exception as exc:  # lxml gives up on some binary garbage served as text
            logger.warning("malformed page %s: not parsed (%s)", response.url, exc)
            return []
        links = extract(
            root, response.url, max_media=opts.max_media_per_page, max_pages=opts.max_links_per_page
        )
        self._log_caps(response.url, links)
        via_tor = self._reached_from_tor(response)
        common: dict[str, Any] = {"page_url": response.url, "via_tor": via_tor}
        out: list[Any] = [
            PageItem(
                PageVisit(
                    url=response.url,
                    host=host_of(response.url),
                    network=response.meta.get("network", "clear"),
                    reached_from_tor=via_tor,
                    depth=depth,
                    media_links=len(links.media) + len(links.archives),
                    seed=bool(response.meta.get("seed")),
                )
            )
        ]
        self.crawler.stats.inc_value("orbweaver/pages")
        if links.media or links.archives:
            self._keep_page(response)
        fresh = links.media
        if response.meta.get("epoch"):  # a re-crawl: what was seen unmatched stays unfetched
            seen = self._seen_before(links.media)
            fresh = [u for u in links.media if u not in seen]
        media = [self.request(u, kind="media", depth=depth + 1, **common) for u in fresh]
        media.extend(
            self.request(u, kind="archive", depth=depth + 1, passwords=pw, **common)
            for u, pw in links.archives
        )
        pages: list[scrapy.Request] = []
        if depth < opts.depth_limit:
            for url in links.pages:
                ext = extension(url)
                kind = (
                    "media"
                    if ext in MEDIA_EXTENSIONS
                    else "archive"
                    if ext in ARCHIVE_EXTENSIONS
                    else "page"
                )
                (pages if kind == "page" else media).append(
                    self.request(url, kind=kind, depth=depth + 1, **common)
                )
        if opts.media_workers == 0:
            return out + media + pages
        return out + self._to_media_queue(media) + pages

    def _seen_before(self, urls: list[str]) -> set[str]:
        """Which of a re-crawled page's media URLs the store saw unmatched on their host within
        the seen retention (`crawl_seen`, issue 22): they are not fetched again, so nothing
        about them is rewritten. A new URL on the page is fetched. The frontier's seen-set
        (JOBDIR, Redis) may know them too, but it is per run or unbounded; this is what the
        store keeps, bounded by the retention. Each host's digests are read once a run (kept
        for the last `SEEN_HOSTS` hosts, `SEEN_DIGESTS` digests in all; a URL written since is
        known to this run's own seen-set); if the store cannot answer, everything is fetched."""
        store, clock = self.runtime.store, self.runtime.clock
        days = self.options.seen_retention_days
        if store is None or clock is None or days <= 0 or self.options.unmatched != "compact":
            return set()
        from datetime import timedelta

        import sqlalchemy as sa

        from orbweaver.store import seen_digests, url_digest

        found: set[str] = set()
        hosts = {host_of(u) for u in urls}
        try:
            for host in hosts:
                digests = self._seen_hosts.get(host)
                if digests is None:
                    with store.session() as session:
                        digests = seen_digests(session, host, clock.now() - timedelta(days=days))
                    self._seen_hosts[host] = digests
                    while len(self._seen_hosts) > 1 and (
                        len(self._seen_hosts) > SEEN_HOSTS
                        or sum(map(len, self._seen_hosts.values())) > SEEN_DIGESTS
                    ):
                        self._seen_hosts.pop(next(iter(self._seen_hosts)))
                found.update(u for u in urls if host_of(u) == host and url_digest(u) in digests)
        except sa.exc.SQLAlchemyError as exc:
            logger.warning("re-crawl: seen URLs not read (%s); fetching every media link", exc)
            return set()
        self.crawler.stats.inc_value("orbweaver/media_seen_before", len(found))
        return found

    def _keep_page(self, response: Response) -> None:
        """Hold the page for evidence, in case its media make a detection: in this process's
        bounded cache when its media are fetched here; the media workers fetch the page again
        for a detection (they run in other processes)."""
        from orbweaver.evidence import page_capture

        if self.options.media_workers == 0:
            capture = page_capture(_exchange(response), response.body, self.page_max_bytes)
            self.pages.put(response.url, capture)

    def _to_media_queue(self, requests: list[scrapy.Request]) -> list[Any]:
        """Media for the media workers (`--media-workers`): each URL once, by the frontier's
        own seen-set (memory, JOBDIR or Redis, re-crawl epochs alike), as a queue entry."""
        slot = getattr(self.crawler.engine, "_slot", None)
        seen = getattr(getattr(slot, "scheduler", None), "df", None)
        out: list[Any] = []
        for request in requests:
            if seen is not None and seen.request_seen(request):
                continue
            meta = request.meta
            out.append(
                MediaTaskItem(
                    url=request.url,
                    kind=meta["kind"],
                    page_url=meta.get("page_url"),
                    via_tor=bool(meta.get("via_tor")),
                    passwords=list(meta.get("passwords") or []),
                )
            )
        self.crawler.stats.inc_value("orbweaver/media_queued", len(out))
        return out

    def _log_caps(self, url: str, links: Any) -> None:
        if links.dropped_media:
            logger.warning(
                "page %s links %d more media than the per-page cap of %d; following the first %d",
                url,
                links.dropped_media,
                self.options.max_media_per_page,
                self.options.max_media_per_page,
            )
        if links.dropped_pages:
            logger.warning(
                "page %s links %d more pages than the per-page cap of %d; following the first %d",
                url,
                links.dropped_pages,
                self.options.max_links_per_page,
                self.options.max_links_per_page,
            )
        if links.bad_urls:
            logger.info("page %s: %d unusable link(s) skipped", url, links.bad_urls)

    async def _archive(self, response: Response, mime: str) -> list[Any]:
        from orbweaver.signals import ArchiveError, unpack

        passwords = list(response.meta.get("passwords") or [])
        self.crawler.stats.inc_value("orbweaver/archives")
        limits = self.options.archive_limits
        try:
            result = await asyncio.wrap_future(
                self._archives().submit(unpack, response.body, passwords=passwords, limits=limits)
            )
        except ArchiveError as exc:
            self.crawler.stats.inc_value("orbweaver/errors")
            logger.warning("archive %s not unpacked: %s: %s", response.url, type(exc).__name__, exc)
            return []
        for problem in result.problems:
            logger.warning("archive %s: %s", response.url, problem)
        logger.info(
            "archive %s: %d member(s)%s",
            response.url,
            len(result.members),
            " (password from the page)" if result.password else "",
        )
        self.crawler.stats.inc_value("orbweaver/media", len(result.members))
        return [
            self._media_item(
                response, member.data, archive_url=response.url, member_path=member.path
            )
            for member in result.members
        ]

    def failed(self, failure: Failure) -> list[Any]:
        """Every failed fetch is one clear log line and one error count; the crawl goes on.

        A page that answered an error is still a visit (with no media links): a page on the
        re-crawl schedule then moves to its next turn instead of staying due for ever."""
        request = getattr(failure, "request", None)
        url = request.url if request is not None else "?"
        self.crawler.stats.inc_value("orbweaver/errors")
        status = failure.value.response.status if isinstance(failure.value, HttpError) else None
        kind = failure_kind(failure.value or Exception(), status)
        if kind != "policy_refused":  # the policy middleware counted it already
            self.crawler.stats.inc_value(f"orbweaver/failed/{kind}")
        if isinstance(failure.value, HttpError):
            logger.warning("fetch failed %s: HTTP %d", url, failure.value.response.status)
            return self._failed_visit(request)
        if failure.check(IgnoreRequest):
            logger.warning("not fetched %s: %s", url, failure.value)
            return []
        reason = failure.getErrorMessage() or type(failure.value).__name__
        logger.warning("fetch failed %s: %s: %s", url, type(failure.value).__name__, reason)
        return []

    @staticmethod
    def _failed_visit(request: Any) -> list[Any]:
        if request is None or request.meta.get("kind") != "page":
            return []
        return [
            PageItem(
                PageVisit(
                    url=request.url,
                    host=host_of(request.url),
                    network=request.meta.get("network", "clear"),
                    reached_from_tor=bool(request.meta.get("via_tor")),
                    depth=int(request.meta.get("depth", 0)),
                    media_links=0,
                    seed=False,
                )
            )
        ]
