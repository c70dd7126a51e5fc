"""Scrapy's namespaced stats as Prometheus metrics (`STATS_CLASS` of every crawl).

The crawl counts its work in Scrapy's stats under `orbweaver/` (`orbweaver/pages`,
`orbweaver/detections`...); this collector keeps doing that and also adds each increment to
`orbweaver_crawl_<name>_total`, so the crawl role's `/metrics` moves as the crawl works. Failures
become `orbweaver_errors_total{stage="crawl", kind=...}`, download exceptions by their class
(Scrapy's `downloader/exception_type_count/<class>`). Failed fetches are also counted by what
failed (`orbweaver/failed/<kind>`: `redirect_loop`, `oversize`, `timeout`, `http_404`...), and
every error kind but the generic `failed` waits in this process (`take_errors`) for the store
writer's next batch, which adds it to `crawl_error_day` (the console's crawl page). Loading the
match index sets `orbweaver/index_entries`, which the crawl role's readiness waits for.
"""

from __future__ import annotations

from collections import Counter
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
_errors: Counter[str] = Counter()  # error kinds counted and not yet in the store


def note_error(kind: str, amount: int = 1) -> None:
    """Count `amount` failures of `kind` for the store (`take_errors`)."""
    if amount > 0:
        _errors[kind] += amount


def take_errors() -> dict[str, int]:
    """The error counts noted since the last take (the store writer adds them to its batch;
    `note_error` them again if its transaction fails)."""
    taken = dict(_errors)
    _errors.clear()
    return taken


def note_stat(name: str, amount: Any) -> None:
    """`orbweaver/<name>` counted: an error kind (but the generic `errors`, whose kinds come as
    `failed/<kind>`) is noted for the store."""
    if not isinstance(amount, int) or amount <= 0:
        return
    if name in ERRORS and name != "errors":
        note_error(ERRORS[name], amount)
    elif name.startswith("failed/"):
        note_error(name.split("/", 1)[1], amount)


def errors_pending() -> bool:
    return bool(_errors)


def index_loaded() -> bool:
    """True once a crawl in this process has loaded its match index."""
    return _index_loaded


def failure_kind(exc: BaseException, status: int | None = None) -> str:
    """What a failed fetch's exception says went wrong, as a short kind for the store."""
    if status is not None and status >= 300:
        return f"http_{status}"
    text = str(exc).lower()
    name = type(exc).__name__
    if text.startswith("policy refused"):
        return "policy_refused"
    if "redirect" in text:
        return "redirect_loop"
    if "max size" in text or "larger than" in text:
        return "oversize"
    if "timeout" in name.lower() or "took longer" in text or "timed out" in text:
        return "timeout"
    if name == "PolicyError":
        return "policy_refused"
    if name in ("ResolveError", "ResolverUnavailable", "DNSLookupError"):
        return "dns"
    if "refused" in text or name == "ConnectionRefusedError":
        return "connection_refused"
    return name[:64] or "failed"


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
    note_stat(name, amount)


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
