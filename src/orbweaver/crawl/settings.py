"""Settings of the crawl (env `ORBWEAVER_CRAWL_*`, TOML top level or `[crawl]`).

The knobs a deployment sets once for its crawl role; `orbweaver crawl` takes the same values
as its defaults and lets a flag override one for a run. Network limits shared with the other
stages (allowed ranges, the Tor proxy, the port map) stay in the shared `Settings`.
"""

from __future__ import annotations

from typing import ClassVar

from orbweaver.config import OrbweaverSettings


class CrawlSettings(OrbweaverSettings):
    """How hard and how deep the crawl goes, and where its shared frontier lives in Redis."""

    section: ClassVar[str] = "crawl"

    crawl_concurrency: int = 64
    crawl_per_host: int = 8
    crawl_delay_s: float = 0.0
    crawl_autothrottle: bool = False
    crawl_depth: int = 8
    crawl_max_pages_per_site: int = 20_000
    crawl_max_media_per_page: int = 5_000
    crawl_recrawl_every_s: float = 86_400.0
    crawl_timeout_s: float = 30.0
    # Processes that fingerprint media: -1 one per core, 0 threads in the crawler.
    crawl_hash_processes: int = -1
    crawl_redis_prefix: str = "orbweaver:crawl"
    # Media workers (issue 15): processes that fetch, unpack, fingerprint and match media
    # outside Scrapy; 0 keeps media inside the page crawl, -1 is one per core.
    crawl_media_workers: int = 0
    crawl_media_in_flight: int = 256
    # A media URL a worker claimed and did not write within this time is claimed again.
    crawl_media_lease_s: float = 300.0
    # A media URL whose batches the store refused this many times is set aside as a dead
    # letter (`orbweaver media-dead-letters`); the tries before it wait doubling from the base.
    crawl_media_max_attempts: int = 5
    crawl_media_retry_base_s: float = 5.0
    # Sealed bytes of unmatched media held in memory while they wait (`suspect_limbo_s`) for a
    # first detection on their host; beyond it the oldest are forgotten.
    crawl_suspect_limbo_max_bytes: int = 256 * 1024 * 1024
    # What a picture that matched nothing, on a host without detections, keeps (issue 22):
    # "compact" (60 bytes of signals, 8 of URL hash, a count per host and day) or "full" (a
    # media and a sighting row, as before). A re-crawled page's media URLs seen unmatched within
    # this many days are not fetched again; keep it equal to ORBWEAVER_SEEN_RETENTION_DAYS, the
    # retention `db maintain` applies to seen URLs.
    crawl_unmatched: str = "compact"
    crawl_seen_retention_days: float = 90.0
