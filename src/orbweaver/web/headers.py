"""Security headers on every answer of the web app.

The console is server-rendered with static scripts and styles only (no inline script, no inline
style, no third-party origin), so its Content-Security-Policy can be strict: same-origin
script, style, images and requests, no plugins, no framing (`frame-ancestors 'none'`, and
`X-Frame-Options` for old browsers), no referrer. HSTS is sent always: browsers ignore it over
plain HTTP, so a development server on loopback is not pinned to HTTPS by it.

A response that sets its own Content-Security-Policy keeps it (the downloadable HTML report,
a self-contained document with its own inline style and no script at all).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# The interactive API documentation (only where `web_api_docs` is on) is FastAPI's Swagger UI
# and ReDoc pages: inline script and their assets from a CDN.
DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; img-src 'self' data: https:; connect-src 'self'; "
    "worker-src blob:; base-uri 'none'; frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/redoc")
HSTS = "max-age=63072000; includeSubDomains"

HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"strict-transport-security", HSTS.encode()),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
)


class SecurityHeaders:
    """ASGI middleware: the headers above on every HTTP response, unless already set."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = DOCS_CSP if scope["path"].startswith(DOCS_PATHS) else CSP

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                extra = [(b"content-security-policy", csp.encode()), *HEADERS]
                headers += [(name, value) for name, value in extra if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
