"""The HTTP download handler: Scrapy's, with a connection pool that keeps up with its slots.

Scrapy sizes Twisted's pool of idle keep-alive connections to `CONCURRENT_REQUESTS_PER_DOMAIN`.
A slot is freed when a response is delivered, slightly before its connection is handed back to
the pool, so the next request often opens a new connection and, when the old one comes back, the
full pool closes another: on one busy host 1,051 requests opened 359 connections, and connecting
and closing took ~20% of the reactor thread (issue 4, py-spy). Twice the slots' size is room
enough for the connections in transit; the per-host limit on requests is unchanged.
"""

from __future__ import annotations

from typing import Any

from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler

POOL_PER_SLOT = 2


class PooledHTTPDownloadHandler(HTTP11DownloadHandler):
    def __init__(self, crawler: Any) -> None:
        super().__init__(crawler)
        per_host = crawler.settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN")
        # Scrapy exposes no setting for the pool's size: its attribute is the only way in
        self._pool.maxPersistentPerHost = POOL_PER_SLOT * max(1, per_host)
