"""What a fetch leaves for evidence, held in memory until the crawl knows whether it made a
detection: the exchange's request and response headers (references to what the HTTP client
already holds: nothing is copied per fetch), and for pages their HTML in a bounded cache.

Only detections turn captures into WARC records (`warc.records_for`); everything else is
dropped with the fetched item.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Exchange:
    """One HTTP exchange as fetched: headers as the client holds them (Scrapy's `Headers`,
    httpx's `Headers`, or pairs), turned into pairs only when written (`header_pairs`)."""

    url: str
    status: int
    request_headers: Any
    response_headers: Any
    method: str = "GET"


@dataclass(frozen=True)
class PageCapture:
    """A page's exchange and its HTML, at most `evidence_page_max_bytes` of it."""

    exchange: Exchange
    html: bytes
    truncated: bool = False


def header_pairs(headers: Any) -> list[tuple[str, str]]:
    """(name, value) pairs of any client's headers, every value of a repeated header kept."""
    if headers is None:
        return []
    if hasattr(headers, "multi_items"):  # httpx
        return [(str(k), str(v)) for k, v in headers.multi_items()]
    if hasattr(headers, "getlist"):  # Scrapy: bytes keys, lists of bytes values
        out = []
        for key in headers:
            name = key.decode("latin-1") if isinstance(key, bytes) else str(key)
            for value in headers.getlist(key):
                text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                out.append((name, text))
        return out
    return [(str(k), str(v)) for k, v in headers]


def page_capture(exchange: Exchange, body: bytes, max_bytes: int) -> PageCapture:
    return PageCapture(exchange, body[:max_bytes], truncated=len(body) > max_bytes)


class PageCache:
    """Pages' captures by URL, bounded in bytes (least recently used dropped first). One per
    crawler process; thread-safe (the media workers fetch from several tasks at once)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._pages: OrderedDict[str, PageCapture] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, url: str, capture: PageCapture) -> None:
        with self._lock:
            old = self._pages.pop(url, None)
            if old is not None:
                self.bytes -= len(old.html)
            self._pages[url] = capture
            self.bytes += len(capture.html)
            while self.bytes > self.max_bytes and self._pages:
                _, dropped = self._pages.popitem(last=False)
                self.bytes -= len(dropped.html)

    def get(self, url: str | None) -> PageCapture | None:
        if url is None:
            return None
        with self._lock:
            capture = self._pages.get(url)
            if capture is not None:
                self._pages.move_to_end(url)
            return capture

    def __len__(self) -> int:
        return len(self._pages)
