"""Who may call a console route: a session (pages) or an API key (JSON), and a role.

Every guard is registered in `ROLE_OF` with the role it demands, so the security tests can walk
`app.routes` and check each route's guard (a route without one fails them). State-changing
pages also demand the session's CSRF token (form field `csrf_token` or header `X-CSRF-Token`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, HTTPException, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from orbweaver.access import ClientInfo
from orbweaver.banks import BankError
from orbweaver.review import (
    Forbidden,
    NotFound,
    Principal,
    ReviewError,
    ReviewService,
    ReviewSettings,
)
from orbweaver.web.auth import checked_first, require_scope
from orbweaver.web.context import get_context

# Row ids as path and query parameters: positive 64-bit integers (a larger one cannot be a
# row, and overflowed the database driver: a 500 the API fuzzing found).
ROW_ID_MAX = 2**63 - 1
ItemId = Annotated[int, Path(ge=1, le=ROW_ID_MAX, description="A review item's id.")]
BeforeId = Annotated[
    int | None, Query(ge=1, le=ROW_ID_MAX, description="Only rows older than this id.")
]

SESSION_COOKIE = "ow_session"
LOGIN_COOKIE = "ow_login"
API_SCOPE = "review"
ROLE_OF: dict[Callable[..., Any], str] = {}
# Console POSTs an anonymous visitor may make (their bodies are read without a session).
ANONYMOUS_POSTS = frozenset({"/console/login"})


def get_service(request: Request) -> ReviewService:
    """One ReviewService per app (it holds in-memory PDQ sets), built on first use."""
    service: ReviewService | None = getattr(request.app.state, "review", None)
    if service is None:
        ctx = get_context(request)
        settings = getattr(request.app.state, "review_settings", None) or ReviewSettings()
        service = ReviewService(
            ctx.store,
            ctx.clock,
            settings,
            vault_key=ctx.settings.suspect_key,
            vault_retired_key=ctx.settings.suspect_retired_key,
        )
        request.app.state.review = service
    return service


@dataclass(frozen=True)
class PageAuth:
    who: Principal
    csrf: str
    token: str


def _session(request: Request) -> tuple[Principal, str] | None:
    """The session's user and CSRF token, looked up once per request."""
    if hasattr(request.state, "session"):
        cached: tuple[Principal, str] | None = request.state.session
        return cached
    token = request.cookies.get(SESSION_COOKIE, "")
    found = get_service(request).resolve(token) if token else None
    request.state.session = found
    return found


def session_auth(request: Request) -> PageAuth | None:
    """The logged-in user of a page request, if any (for pages that show errors)."""
    found = _session(request)
    if found is None:
        return None
    return PageAuth(found[0], found[1], request.cookies.get(SESSION_COOKIE, ""))


async def session_first(request: Request) -> None:
    """Before any body is read: a state-changing console request needs a live session (the
    login form, which starts one, excepted)."""
    if request.method in ("GET", "HEAD") or request.url.path in ANONYMOUS_POSTS:
        return
    if await run_in_threadpool(_session, request) is None:
        raise HTTPException(401, "login required")


def page_user(role: str) -> Callable[[Request], PageAuth]:
    """Logged-in users holding `role`; anonymous GETs are sent to the login page."""

    def guard(request: Request) -> PageAuth:
        token = request.cookies.get(SESSION_COOKIE, "")
        found = _session(request)
        if found is None:
            if request.method == "GET":
                target = quote(request.url.path)
                raise HTTPException(
                    303, "login required", {"Location": f"/console/login?next={target}"}
                )
            raise HTTPException(401, "login required")
        who, csrf = found
        if not who.has(role):
            raise HTTPException(403, f"this page needs the {role} role")
        return PageAuth(who, csrf, token)

    ROLE_OF[guard] = role
    return guard


def page_action(role: str) -> Callable[..., Any]:
    """As `page_user`, plus a CSRF token that matches the session's."""
    user = page_user(role)

    async def guard(request: Request, auth: PageAuth = Depends(user)) -> PageAuth:
        sent: object = request.headers.get("x-csrf-token")
        if sent is None:
            sent = (await request.form()).get("csrf_token")
        if not isinstance(sent, str) or not hmac.compare_digest(sent, auth.csrf):
            raise HTTPException(403, "CSRF token missing or wrong")
        return auth

    ROLE_OF[guard] = role
    return guard


def api_user(role: str) -> Callable[..., Principal]:
    """API clients (HTTP Basic, scope `review`) act as the console user named like them."""
    client_dep = require_scope(API_SCOPE)

    def guard(request: Request, client: ClientInfo = Depends(client_dep)) -> Principal:
        who = get_service(request).principal(client.name)
        if who is None:
            raise HTTPException(403, "this API key is not linked to an enabled console user")
        if not who.has(role):
            raise HTTPException(403, f"this call needs the {role} role")
        return who

    ROLE_OF[guard] = role
    return guard


@contextmanager
def domain_errors() -> Iterator[None]:
    """Domain refusals as HTTP answers with the domain's own message."""
    try:
        yield
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except Forbidden as exc:
        raise HTTPException(403, str(exc)) from exc
    except (ReviewError, BankError) as exc:
        raise HTTPException(409, str(exc)) from exc


def confirmed(reason: str, *, typed: str | None = None, name: str = "", what: str = "") -> str:
    """A consequential change's confirmation: its subject's `name` typed again (when `typed` is
    given) and a reason for the audit log; the reason, stripped, else a 409 saying what's
    missing. One check for every console form that changes something with a reason."""
    if typed is not None and typed.strip() != name:
        raise HTTPException(409, f"type the {what} name ({name}) to confirm")
    if not reason.strip():
        raise HTTPException(409, "give a reason: it goes to the audit log")
    return reason.strip()


def reveal_ticket(csrf: str, item_id: int, user_id: int, expires: int) -> str:
    """A short-lived permission to load one clear image, bound to the session's secret."""
    mac = hmac.new(csrf.encode(), f"{item_id}:{user_id}:{expires}".encode(), hashlib.sha256)
    return f"{expires}.{mac.hexdigest()}"


def ticket_valid(ticket: str, csrf: str, item_id: int, user_id: int, now: int) -> bool:
    expires_text, _, _mac = ticket.partition(".")
    if not expires_text.isdigit() or int(expires_text) < now:
        return False
    expected = reveal_ticket(csrf, item_id, user_id, int(expires_text))
    return hmac.compare_digest(expected, ticket)


SessionFirstRoute = checked_first(session_first)
