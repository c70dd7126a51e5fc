"""What every router of the web app shares: settings, store, clock, index, keys, limits.

Routers reach it through `get_context(request)`, so the review console added later plugs in
as one more router on the same app without globals.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Protocol

from fastapi import Request

from orbweaver.access import KeyRegistry
from orbweaver.clock import Clock
from orbweaver.store import Store
from orbweaver.web.ratelimit import Limiter
from orbweaver.web.serving import LiveMatcher
from orbweaver.web.settings import WebSettings


@dataclass(frozen=True)
class FetchedMedia:
    content: bytes
    mime_type: str


class UrlFetcher(Protocol):
    """Fetches one URL for /v1/url/. It must apply the crawl's network policy (SSRF guard,
    allowed networks, size cap); orbweaver.crawl provides it once it exists."""

    def fetch(self, url: str, *, max_bytes: int) -> FetchedMedia: ...


@dataclass
class WebContext:
    settings: WebSettings
    store: Store
    clock: Clock
    matcher: LiveMatcher
    keys: KeyRegistry
    limiter: Limiter
    url_fetcher: UrlFetcher | None = None
    # Bounds the picture decodes of this worker (`shield_decode_concurrency`).
    decodes: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(2)
    )


def get_context(request: Request) -> WebContext:
    ctx: WebContext = request.app.state.ctx
    return ctx
