"""The knobs of one crawl, apart from the code that reads them (runner, runtime, spider)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from orbweaver.signals import ArchiveLimits, VideoLimits


@dataclass
class CrawlOptions:
    """Knobs of one crawl; defaults suit a hotline crawling a few thousand sites politely."""

    until_idle: bool = True
    depth_limit: int = 8
    max_pages_per_site: int = 20_000
    max_media_per_page: int = 5_000
    max_links_per_page: int = 5_000
    concurrency: int = 64
    per_host_concurrency: int = 8
    download_delay_s: float = 0.0
    autothrottle: bool = False
    recrawl_interval_s: float = 24 * 3600.0
    flush_interval_s: float = 0.5
    flush_batch: int = 200
    # A batch the store cannot take (down, restarting) is retried, waits doubling up to the cap.
    store_retry_base_s: float = 0.5
    store_retry_cap_s: float = 15.0
    matcher_refresh_s: float = 30.0
    # Unmatched media wait this long (sealed, in memory) for a first detection on their host.
    suspect_limbo_s: float = 120.0
    suspect_limbo_max: int = 10_000
    suspect_limbo_max_bytes: int = 256 * 1024 * 1024
    pdq_quality_min: int = 50
    # Worker processes that fingerprint media: None = one per core; 0 = threads in this process.
    hash_processes: int | None = None
    max_media_bytes: int = 64 * 1024 * 1024
    max_pixels: int = 64_000_000
    archive_limits: ArchiveLimits = field(default_factory=ArchiveLimits)
    # Caps on one video (the settings' `video_max_*`); each refusal is logged, the file kept
    # by its exact hashes (issue 16).
    video_limits: VideoLimits = field(default_factory=VideoLimits)
    # Threads that unpack archives, apart from the reactor's pool (DNS, store writes).
    archive_workers: int = 2
    jobdir: Path | None = None
    redis_url: str = ""
    redis_prefix: str = "orbweaver:crawl"
    progress: bool = False
    log_level: str = "INFO"
    log_file: str | None = None
    timeout_s: float = 30.0
    max_redirects: int = 5
    # Media fetched outside Scrapy by this many worker processes (0: inside Scrapy, as before;
    # None: one per core), each with up to `media_in_flight` fetches at once (issue 15).
    media_workers: int | None = 0
    media_in_flight: int = 256
    # A claimed media URL not written within this many seconds is claimed again (a dead worker).
    media_lease_s: float = 300.0
    # A media URL in batches the store refused (not an outage) is tried again after a backoff
    # (doubling from `media_retry_base_s`, at most the lease), and set aside as a dead letter
    # after `media_max_attempts` (`orbweaver media-dead-letters`).
    media_max_attempts: int = 5
    # Where the per-host politeness budget shared by the page crawl and the media workers of
    # this machine lives (set by the runner under DATA_DIR when media workers run; with
    # `redis_url` the budget is in Redis instead, shared by every machine): `crawl.politeness`.
    politeness_dir: str = ""
    media_retry_base_s: float = 5.0
    # "compact" or "full": what unmatched media on hosts without detections keep (issue 22).
    unmatched: str = "compact"
    # A re-crawled page's media URLs seen unmatched on their host within this many days (what
    # `crawl_seen` keeps) are not fetched again (issue 22); 0 fetches them all.
    seen_retention_days: float = 90.0
