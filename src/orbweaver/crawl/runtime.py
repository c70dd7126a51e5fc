"""The live objects one crawl shares (store, clock, policy, resolver, options).

Scrapy deep-copies its settings; a store or a resolver holds locks and connections that must not
be copied, so they travel in settings inside this holder, which copies as itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orbweaver.clock import Clock
    from orbweaver.crawl.options import CrawlOptions
    from orbweaver.net import NetworkPolicy, Resolver
    from orbweaver.store import Store

RUNTIME_SETTING = "ORBWEAVER_RUNTIME"


@dataclass
class CrawlRuntime:
    options: CrawlOptions
    policy: NetworkPolicy
    resolver: Resolver
    store: Store | None = None
    clock: Clock | None = None
    suspect_key: str = ""

    def __deepcopy__(self, memo: dict[int, Any]) -> CrawlRuntime:
        return self

    def __copy__(self) -> CrawlRuntime:
        return self


def runtime_of(crawler: Any) -> CrawlRuntime | None:
    value = crawler.settings.get(RUNTIME_SETTING)
    return value if isinstance(value, CrawlRuntime) else None


def require_runtime(crawler: Any) -> CrawlRuntime:
    value = runtime_of(crawler)
    if value is None:
        from scrapy.exceptions import NotConfigured

        raise NotConfigured("no orbweaver crawl runtime in settings")
    return value
