"""Scrapy's namespaced stats as Prometheus metrics (`STATS_CLASS` of every crawl).

The crawl counts its work in Scrapy's stats under `orbweaver/` (`orbweaver/pages`,
`orbweaver/detections`...); this collector keeps doing that and also adds each increment to
`orbweaver_crawl_<name>_total`, so the crawl role's `/metrics` moves as the crawl works. Failures
become `orbweaver_errors_total{stage="crawl", kind=...}`, download exceptions by their class
(Scrapy's `downloader/exception_type_count/<class>`). Loading the match index sets
`orbweaver/index_entries`, which the crawl role's readiness waits for.
"""

from __future__ import annotations

from typing import Any

from scrapy.statscollectors import MemoryStatsCollector

from orbweaver.ops import count, count_error, gauge

WORK = ("pages", "media", "archives", "sightings", "detections", "suspects")
ERRORS = {
    "errors": "failed",
    "policy_refused": "policy_refused",
    "undecodable": "undecodable",
    "site_cap_skipped": "site_cap",
    "suspects_not_kept": "suspect_not_kept",
}
EXCEPTIONS = "downloader/exception_type_count/"
INDEX = "orbweaver/index_entries"

_index_loaded = False


def index_loaded() -> bool:
    """True once a crawl in this process has loaded its match index."""
    return _index_loaded


def _mirror(key: str, amount: Any) -> None:
    if not isinstance(amount, int | float) or not amount:
        return
    if key.startswith(EXCEPTIONS):
        count_error("crawl", key.removeprefix(EXCEPTIONS).rsplit(".", 1)[-1], amount)
        return
    name = key.removeprefix("orbweaver/")
    if name in WORK:
        count("crawl", name, amount, doc=f"{name.capitalize()} the crawl handled")
    elif name in ERRORS:
        count_error("crawl", ERRORS[name], amount)
    elif name.startswith("fetched/"):
        count("crawl", "fetched", amount, doc="Responses by kind", kind=name.split("/", 1)[1])


class PrometheusStats(MemoryStatsCollector):
    """Scrapy's stats, with orbweaver's counters mirrored into Prometheus."""

    def inc_value(self, key: str, count: int = 1, start: int = 0, spider: Any = None) -> None:
        super().inc_value(key, count, start)
        _mirror(key, count)

    def set_value(self, key: str, value: Any, spider: Any = None) -> None:
        super().set_value(key, value)
        if key == INDEX:
            global _index_loaded
            _index_loaded = True
            gauge("crawl", "index", "entries", "Bank entries in the crawl's match index").set(value)
