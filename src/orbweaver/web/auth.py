"""HTTP Basic authentication with API keys, and per-client rate limits, for any router.

Routers declare `client: ClientInfo = Depends(require_scope("shield"))`; the review console's
JSON API can use the same dependency with its own scope.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi import Depends, HTTPException, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from orbweaver.access import ClientInfo
from orbweaver.web.context import WebContext, get_context
from orbweaver.web.ratelimit import retry_after_header

REALM = "orbweaver"
basic = HTTPBasic(
    auto_error=False,
    realm=REALM,
    description="An API key from `orbweaver apikey create NAME`: username and secret.",
)


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": f'Basic realm="{REALM}"'})


def require_scope(scope: str) -> Callable[..., Awaitable[ClientInfo]]:
    """A dependency that admits enabled API clients holding `scope`.

    Async, so a request whose key is in the worker's cache is checked on the event loop (one
    SHA-256 and a dict lookup) rather than through a threadpool round trip; only a cache miss
    or a due `last_used_at` write goes to the store, in the threadpool.
    """

    async def dependency(
        request: Request, credentials: HTTPBasicCredentials | None = Depends(basic)
    ) -> ClientInfo:
        checked: ClientInfo | None = getattr(request.state, "client", None)
        if checked is not None and scope in checked.scopes:
            return checked  # already admitted by `auth_first_route`, before the body was read
        if credentials is None:
            raise unauthorized("authentication required: HTTP Basic with an API key")
        keys = get_context(request).keys
        if keys.needs_store(credentials.username):
            client = await run_in_threadpool(
                keys.verify, credentials.username, credentials.password
            )
        else:
            client = keys.verify(credentials.username, credentials.password)
        if client is None:
            raise unauthorized("invalid username or password")
        if scope not in client.scopes:
            raise HTTPException(403, f"this API key is not allowed to use {scope}")
        return client

    return dependency


def checked_first(check: Callable[[Request], Awaitable[None]]) -> type[APIRoute]:
    """A route class that runs `check(request)` before FastAPI reads or parses the body.

    FastAPI reads and decodes a body (JSON or form) before it solves a route's dependencies,
    so an anonymous caller could make the server parse a megabyte, and a malformed body was
    answered 422 where 401 was due. `check` raises the refusal; the route's own guard then
    reuses what it found (see `request.state`)."""

    class CheckedFirstRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            inner = super().get_route_handler()

            async def handler(request: Request) -> Response:
                await check(request)
                return await inner(request)

            return handler

    return CheckedFirstRoute


def auth_first_route(scope: str) -> type[APIRoute]:
    """Routes whose API key is checked (as `require_scope(scope)` does) before the body."""
    guard = require_scope(scope)

    async def check(request: Request) -> None:
        request.state.client = await guard(request, await basic(request))

    return checked_first(check)


def charge(ctx: WebContext, client: ClientInfo, cost: int = 1) -> None:
    """Spend `cost` of the client's rate limit, or refuse with 429 and Retry-After."""
    wait = ctx.limiter.take(
        client.id,
        cost,
        rate_per_minute=client.rate_per_minute or ctx.settings.shield_rate_per_minute,
        burst=client.rate_burst or ctx.settings.shield_rate_burst,
    )
    if wait is not None:
        raise HTTPException(
            429,
            f"rate limit exceeded; retry in {wait:.1f} s",
            headers={"Retry-After": retry_after_header(wait)},
        )
