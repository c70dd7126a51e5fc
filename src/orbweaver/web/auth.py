"""HTTP Basic authentication with API keys, and per-client rate limits, for any router.

Routers declare `client: ClientInfo = Depends(require_scope("shield"))`; the review console's
JSON API can use the same dependency with its own scope.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from starlette.concurrency import run_in_threadpool

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
