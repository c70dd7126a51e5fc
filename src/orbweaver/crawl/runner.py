"""Composing and running a crawl: options → Scrapy settings → one CrawlerProcess.

Everything a crawl does is decided here from settings, so `orbweaver crawl`, the tests (which run
it in a subprocess: Twisted's reactor cannot restart inside one process) and the benchmark all run
the same composition.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from orbweaver.config import Settings
from orbweaver.crawl.options import CrawlOptions
from orbweaver.crawl.policy import scrapy_settings as policy_settings
from orbweaver.crawl.runtime import RUNTIME_SETTING, CrawlRuntime
from orbweaver.net import NetworkPolicy, Resolver


def scrapy_settings(options: CrawlOptions, app: Settings, store: Any, clock: Any) -> dict[str, Any]:
    """The full Scrapy settings for a crawl: policy, politeness, frontier, pipelines."""
    policy = NetworkPolicy.from_settings(
        app,
        timeout=options.timeout_s,
        max_redirects=options.max_redirects,
        media_max_bytes=options.max_media_bytes,
    )
    settings: dict[str, Any] = policy_settings(policy)
    settings.update(
        {
            RUNTIME_SETTING: CrawlRuntime(
                options=options,
                policy=policy,
                resolver=Resolver(app.dns_servers),
                store=store,
                clock=clock,
                suspect_key=app.suspect_key,
            ),
            "BOT_NAME": "orbweaver",
            # Scrapy's stats, mirrored into the process' Prometheus metrics
            "STATS_CLASS": "orbweaver.crawl.metrics.PrometheusStats",
            "USER_AGENT": "orbweaver/0.1 (child-protection hotline crawler)",
            "CONCURRENT_REQUESTS": options.concurrency,
            "CONCURRENT_REQUESTS_PER_DOMAIN": options.per_host_concurrency,
            "DOWNLOAD_DELAY": options.download_delay_s,
            "AUTOTHROTTLE_ENABLED": options.autothrottle,
            "DEPTH_LIMIT": 0,  # the spider applies depth to pages only; media are always fetched
            "RETRY_TIMES": 1,
            # Scrapy starts CONCURRENT_ITEMS asyncio tasks for *every* response, however few
            # items it yields (one page item, or one media item): at 32 that was a fifth of the
            # reactor thread on pages without media. Parallel hashing comes from the many
            # responses in flight; an archive's members are hashed two at a time.
            "CONCURRENT_ITEMS": 2,
            # Per-request bookkeeping nothing here reads: the byte counts of every request
            # (DownloaderStats renders each request as HTTP to count it),
            # URL-length and depth filters (the spider applies depth to pages itself).
            "DOWNLOADER_STATS": False,
            "SPIDER_MIDDLEWARES": {
                "scrapy.spidermiddlewares.urllength.UrlLengthMiddleware": None,
                "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
            },
            "REQUEST_FINGERPRINTER_CLASS": "orbweaver.crawl.spider.EpochFingerprinter",
            "DOWNLOADER_MIDDLEWARES": {
                "orbweaver.crawl.policy.PolicyMiddleware": 50,
                "orbweaver.crawl.middlewares.SiteCapMiddleware": 60,
                # responses pass it before Scrapy's RedirectMiddleware (600)
                "orbweaver.crawl.policy.RedirectLoopMiddleware": 650,
                # last before the download: the per-host budget shared with the media workers
                "orbweaver.crawl.middlewares.HostBudgetMiddleware": 990,
            },
            "ITEM_PIPELINES": {
                "orbweaver.crawl.pipelines.SignalsPipeline": 100,
                "orbweaver.crawl.pipelines.StoreWriterPipeline": 300,
            },
            "EXTENSIONS": {
                "orbweaver.crawl.middlewares.ProgressExtension": 500,
                # No listening sockets on a crawler node.
                "scrapy.extensions.remote_control.RemoteControl": None,
                "scrapy.extensions.telnet.TelnetConsole": None,
            },
            "LOG_LEVEL": options.log_level,
            "LOG_FILE": options.log_file,
            "LOGSTATS_INTERVAL": 0 if options.progress else 60.0,
            "REACTOR_THREADPOOL_MAXSIZE": 8,
        }
    )
    settings.update(frontier_settings(options))
    return settings


def frontier_settings(options: CrawlOptions) -> dict[str, Any]:
    """Where the queue and the seen-set live: Redis (shared by machines), a JOBDIR on disk
    (requests only, never bodies: the HTTP cache is off), or memory."""
    if options.redis_url:
        prefix = options.redis_prefix
        return {
            "SCHEDULER": "orbweaver.crawl.middlewares.PatientRedisScheduler",
            "DUPEFILTER_CLASS": "orbweaver.crawl.middlewares.EpochRedisDupeFilter",
            "SCHEDULER_DUPEFILTER_CLASS": "orbweaver.crawl.middlewares.EpochRedisDupeFilter",
            "SCHEDULER_PERSIST": True,
            "SCHEDULER_QUEUE_CLASS": "orbweaver.crawl.middlewares.PopMinPriorityQueue",
            "SCHEDULER_QUEUE_KEY": f"{prefix}:requests",
            "SCHEDULER_DUPEFILTER_KEY": f"{prefix}:seen",
            "REDIS_URL": options.redis_url,
        }
    if options.jobdir is not None:
        return {"JOBDIR": str(options.jobdir)}
    return {}


@dataclass
class CrawlSummary:
    stats: dict[str, Any]

    def count(self, name: str) -> int:
        return int(self.stats.get(f"orbweaver/{name}", 0))


def run_crawl(
    urls: list[str],
    options: CrawlOptions,
    app: Settings,
    *,
    seed_source: str = "cli",
    store: Any = None,
) -> CrawlSummary:
    """Record the seeds, then crawl them plus every pending seed and due re-crawl, in this
    process (the reactor is started and stopped here: once per process). `store`: the one the
    caller built (the crawl role's, which does not migrate without `auto_migrate`); else the
    configured one, migrated."""
    from scrapy.crawler import CrawlerProcess

    from orbweaver.clock import clock_from_url
    from orbweaver.crawl.frontier import add_seeds, pending_starts
    from orbweaver.crawl.spider import OrbSpider
    from orbweaver.signals import limit_blas_threads
    from orbweaver.store import open_store

    limit_blas_threads(1)  # the hashing pool is the parallelism (see signals.blas)
    store = store or open_store(app.resolved_database_url)
    clock = clock_from_url(getattr(app, "clock_url", ""))
    if urls:
        add_seeds(store, clock, urls, source=seed_source)
    starts = pending_starts(store, clock)
    options = _with_media_workers(options)
    if options.media_workers and not options.politeness_dir:
        import dataclasses

        options = dataclasses.replace(options, politeness_dir=str(app.data_dir / "crawl-hosts"))
    settings = scrapy_settings(options, app, store, clock)
    process = CrawlerProcess(settings, install_root_handler=True)
    crawler = process.create_crawler(OrbSpider)
    process.crawl(crawler, starts=starts)
    log = logging.getLogger(__name__)
    log.info("crawl: %d start URL(s)", len(starts))
    workers = None
    if options.media_workers:
        from orbweaver.crawl.media import MediaWorkers

        workers = MediaWorkers(options.media_workers, options, app)
        workers.start()
        log.info("media: %d worker process(es)", options.media_workers)
    try:
        process.start()
    except BaseException:
        if workers is not None:
            workers.terminate()
        raise
    stats = dict(crawler.stats.get_stats()) if crawler.stats else {}
    if workers is not None:
        # the page crawl is over: the workers finish the queue (unless it was stopped)
        drain = stats.get("finish_reason") == "finished"
        for key, value in workers.join(drain=drain).items():
            if key.endswith("_at"):
                stats[f"orbweaver/media_{key}"] = value
            else:
                stats[f"orbweaver/{key}"] = stats.get(f"orbweaver/{key}", 0) + value
    return CrawlSummary(stats)


def _with_media_workers(options: CrawlOptions) -> CrawlOptions:
    """`media_workers=None` (one per core) made a number; with media workers the page crawl
    hashes nothing, so it starts no hashing pool."""
    import dataclasses

    from orbweaver.crawl.hashing import default_processes

    workers = options.media_workers
    if workers is None:
        workers = default_processes()
    if not workers:
        return options
    return dataclasses.replace(options, media_workers=workers, hash_processes=0)
