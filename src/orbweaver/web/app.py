"""The web application: one FastAPI app, one router per feature.

`create_app()` wires the shared context (settings, store, clock, live match index, API keys,
rate limits) and includes the routers: status and the Shield API now; the review console
plugs in later as one more `app.include_router(...)` using `web.auth` and `web.context`.
`orbweaver serve` runs it under uvicorn as a factory, so every worker builds its own.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import RedirectResponse, Response

from orbweaver.access import KeyRegistry
from orbweaver.banks import Matcher
from orbweaver.clock import Clock, SystemClock
from orbweaver.config import Settings
from orbweaver.review import ReviewSettings
from orbweaver.signals import limit_blas_threads
from orbweaver.store import Store, open_store
from orbweaver.web import console, hma, public_report, shield, status
from orbweaver.web.context import UrlFetcher, WebContext
from orbweaver.web.errors import BodyLimit, ServerTiming, install_error_handlers
from orbweaver.web.headers import SecurityHeaders
from orbweaver.web.ratelimit import rate_limiter
from orbweaver.web.serving import LiveMatcher
from orbweaver.web.settings import WebSettings, web_settings

# Bodies of JSON endpoints (a PDQ batch of 1000 hashes is ~50 KB).
JSON_BODY_MAX = 1024 * 1024
MEDIA_PATHS = ("/v1/media",)

DESCRIPTION = """\
orbweaver's Shield API: check uploads against the hotline's hash lists before they go live.
Compatible with C3P's `arachnid-shield-sdk` (set `ARACHNID_SHIELD_URL` to this server).
Only hashes and verdicts are kept, and only when the deployment turns retention on.
"""


def create_app(
    settings: Settings | None = None,
    store: Store | None = None,
    clock: Clock | None = None,
    url_fetcher: UrlFetcher | None = None,
    review: ReviewSettings | None = None,
) -> FastAPI:
    """The app; without arguments, configured from the environment (uvicorn's factory).

    `review` gives the console's settings (sessions, cookies, login throttling); without it
    they are read from the environment and the TOML file."""
    # /v1/media/ hashes uploads in the threadpool: each PDQ product on its caller's thread, as
    # in the crawler (a threaded OpenBLAS under concurrent callers cost ~10x, see signals.blas).
    limit_blas_threads(1)
    ctx = build_context(web_settings(settings), store, clock, url_fetcher)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        ctx.matcher.start()
        try:
            yield
        finally:
            ctx.matcher.stop()

    docs = ctx.settings.web_api_docs
    app = FastAPI(
        title="orbweaver",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.ctx = ctx
    app.state.review_settings = review
    install_error_handlers(app)
    console.install_error_pages(app)
    app.add_middleware(BodyLimit, limit_for=_body_limit(ctx.settings))
    app.add_middleware(ServerTiming)
    app.add_middleware(SecurityHeaders)
    app.include_router(status.router)
    app.include_router(shield.router)
    app.include_router(hma.router)  # HMA-compatible /h/ and /m/ (issue 17)
    app.include_router(console.router)
    app.add_api_route("/", _to_console, methods=["GET"], include_in_schema=False)
    app.include_router(public_report.router)
    mount_health(app, ctx)
    return app


def _to_console() -> Response:
    """`/` is the console (its login page for a visitor who is not logged in)."""
    return RedirectResponse("/console/queue", status_code=303)


def mount_health(app: FastAPI, ctx: WebContext) -> None:
    """`/livez`, `/readyz` and `/metrics` of the serve role, on the app itself: ready when
    the store answers, its schema is current and this worker's match index is loaded."""
    from fastapi import Response

    from orbweaver.config import RunSettings
    from orbweaver.ops import Check, Health, respond, store_probes

    health = Health("serve", timeout_s=RunSettings().health_timeout_s)

    def index() -> Check:
        state = ctx.matcher.readiness()
        return Check("index", state.ready, state.state)

    health.set_probes([*store_probes(ctx.store), index])

    def endpoint(path: str) -> Callable[[], Response]:
        def answer() -> Response:
            code, content_type, body = respond(health, path)
            return Response(body, status_code=code, media_type=content_type)

        return answer

    for path in ("/livez", "/readyz", "/metrics"):
        app.add_api_route(path, endpoint(path), methods=["GET"], include_in_schema=False)


def build_context(
    settings: WebSettings,
    store: Store | None,
    clock: Clock | None,
    url_fetcher: UrlFetcher | None,
) -> WebContext:
    # Serving never migrates: `orbweaver serve` upgrades once before starting its workers.
    store = store or open_store(settings.resolved_database_url, upgrade=False)
    clock = clock or SystemClock()
    matcher = LiveMatcher(
        Matcher(store, quality_min=settings.pdq_quality_min),
        clock,
        interval_s=settings.shield_refresh_interval_s,
        stale_after_s=settings.shield_stale_after_s,
    )
    return WebContext(
        settings=settings,
        store=store,
        clock=clock,
        matcher=matcher,
        keys=KeyRegistry(store, clock, ttl_s=settings.shield_auth_cache_s),
        limiter=rate_limiter(settings.redis_url, settings.shield_rate_redis_prefix),
        url_fetcher=url_fetcher,
        decodes=threading.BoundedSemaphore(max(1, settings.shield_decode_concurrency)),
    )


def _body_limit(settings: WebSettings) -> Callable[[str], int]:
    def limit_for(path: str) -> int:
        if path.startswith(MEDIA_PATHS):
            return settings.shield_max_upload_bytes
        return JSON_BODY_MAX

    return limit_for
