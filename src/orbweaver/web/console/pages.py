"""The analyst console: server-rendered pages (Jinja2) with a little HTMX.

No route is anonymous except the login form and the static files it needs. Images are only
ever fetched through `/image`, which softens them unless the request carries a reveal ticket
that a click (a CSRF-checked POST) just issued.
"""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from orbweaver.review import Busy, Forbidden, ReviewError, ReviewService
from orbweaver.store.models import CATEGORIES, SEVERITIES
from orbweaver.web.console.security import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    BeforeId,
    ItemId,
    PageAuth,
    SessionFirstRoute,
    domain_errors,
    get_service,
    page_action,
    page_user,
    reveal_ticket,
    ticket_valid,
)
from orbweaver.web.context import get_context
from orbweaver.web.ratelimit import retry_after_header

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(prefix="/console", include_in_schema=False, route_class=SessionFirstRoute)
NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
STATIC = {
    "htmx.min.js": "text/javascript",
    "console.js": "text/javascript",
    "console.css": "text/css",
    "htmx.LICENSE.txt": "text/plain",
}
REVEAL_SECONDS = 60

analyst = page_user("analyst")
senior = page_user("senior_analyst")
admin = page_user("administrator")
analyst_action = page_action("analyst")
senior_action = page_action("senior_analyst")
admin_action = page_action("administrator")


def render(
    request: Request,
    name: str,
    auth: PageAuth | None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **values: Any,
) -> HTMLResponse:
    values.update(auth=auth, categories=CATEGORIES, severities=SEVERITIES)
    response = templates.TemplateResponse(request, name, values, status_code=status_code)
    response.headers.update(NO_STORE)
    response.headers.update(headers or {})
    return response


def login_wait(request: Request, username: str, address: str) -> float | None:
    """Seconds this login must wait (per client address, then per account), or None.

    Every try is charged, right or wrong, before the password is hashed: a refused try costs
    the server a token-bucket step, not an argon2 hash. The account's bucket is keyed by a
    hash of the typed name, so a flood of made-up names keeps no attacker text in memory."""
    settings = get_service(request).settings
    limiter = get_context(request).limiter
    account = hashlib.sha256(username.casefold().encode()).hexdigest()[:32]
    for key, per_hour, burst in (
        (
            f"login:address:{address}",
            settings.review_login_address_per_hour,
            settings.review_login_address_burst,
        ),
        (
            f"login:account:{account}",
            settings.review_login_account_per_hour,
            settings.review_login_account_burst,
        ),
    ):
        wait = limiter.take(key, 1, rate_per_minute=per_hour / 60.0, burst=burst)
        if wait is not None:
            return wait
    return None


def _safe_next(target: str) -> str:
    """Only same-site console paths, so the login form is no open redirect."""
    return (
        target
        if target.startswith("/console") and not target.startswith("//")
        else "/console/queue"
    )


@router.get("/static/{name}")
def static(name: str) -> Response:
    if name not in STATIC:
        raise HTTPException(404, "no such file")
    return Response((HERE / "static" / name).read_bytes(), media_type=STATIC[name])


@router.get("/login")
def login_form(
    request: Request, next: str = "/console/queue", failed: bool = False, changed: bool = False
) -> Response:
    token = secrets.token_urlsafe(24)  # double-submit token: login CSRF
    response = render(
        request,
        "login.html",
        None,
        next=_safe_next(next),
        token=token,
        failed=failed,
        changed=changed,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        path="/console",
        secure=get_service(request).settings.review_cookie_secure,
    )
    return response


@router.post("/login")
def login(
    request: Request,
    username: str = Form(...),
    password: str = Form(...),
    csrf_token: str = Form(...),
    next: str = Form("/console/queue"),
    code: str = Form(""),
) -> Response:
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    if not cookie or not secrets.compare_digest(cookie, csrf_token):
        raise HTTPException(403, "CSRF token missing or wrong")
    service = get_service(request)
    address = request.client.host if request.client else ""
    wait = login_wait(request, username, address)
    if wait is not None:
        service.login_throttled(username, address)
        minutes = max(1, round(wait / 60))
        return render(
            request,
            "login.html",
            None,
            next=_safe_next(next),
            token=csrf_token,
            failed=False,
            throttled=minutes,
            status_code=429,
            headers={"Retry-After": retry_after_header(wait)},
        )
    try:
        started = service.login(username, password, code=code, address=address)
    except Busy as exc:
        raise HTTPException(503, str(exc), headers={"Retry-After": "5"}) from exc
    except Forbidden as exc:  # the role needs a second factor the user has not enrolled
        return render(
            request,
            "login.html",
            None,
            next=_safe_next(next),
            token=csrf_token,
            failed=False,
            refused=str(exc),
            status_code=403,
        )
    if started is None:
        return RedirectResponse("/console/login?failed=1", status_code=303)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        started[0],
        httponly=True,
        samesite="strict",
        path="/",
        secure=service.settings.review_cookie_secure,
        max_age=int(service.settings.review_session_hours * 3600),
    )
    response.delete_cookie(LOGIN_COOKIE, path="/console")
    return response


@router.post("/logout")
def logout(request: Request, auth: PageAuth = Depends(analyst_action)) -> Response:
    get_service(request).logout(auth.token)
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("")
def home(auth: PageAuth = Depends(analyst)) -> Response:
    return RedirectResponse("/console/queue", status_code=303)


@router.get("/queue")
def queue(request: Request, auth: PageAuth = Depends(analyst), empty: bool = False) -> Response:
    service = get_service(request)
    service.sync_if_due()
    return render(
        request,
        "queue.html",
        auth,
        items=service.top(limit=50),
        counts=service.counts(),
        exposure=_exposure(service, auth),
        empty=empty,
    )


@router.get("/next")
def next_item(request: Request, auth: PageAuth = Depends(analyst)) -> Response:
    view = get_service(request).serve_next(auth.who)
    target = f"/console/items/{view.id}" if view else "/console/queue?empty=1"
    return RedirectResponse(target, status_code=303)


def _exposure(service: ReviewService, auth: PageAuth) -> dict[str, Any]:
    used = service.exposure_today(auth.who)
    cap = service.settings.exposure_cap_seconds
    return {"minutes": used // 60, "cap_minutes": cap // 60, "over": used >= cap}


@router.get("/items/{item_id}")
def item_page(request: Request, item_id: ItemId, auth: PageAuth = Depends(analyst)) -> Response:
    service = get_service(request)
    with domain_errors():
        view = service.item(auth.who, item_id)
    return render(
        request,
        "item.html",
        auth,
        item=view,
        exposure=_exposure(service, auth),
        heartbeat=service.settings.review_heartbeat_seconds,
    )


@router.get("/items/{item_id}/image")
def image(
    request: Request,
    item_id: ItemId,
    ticket: str = "",
    frame: int | None = None,
    auth: PageAuth = Depends(analyst),
) -> Response:
    service = get_service(request)
    now = int(service.clock.now().timestamp())
    clear = bool(ticket) and ticket_valid(ticket, auth.csrf, item_id, auth.who.id, now)
    if ticket and not clear:
        raise HTTPException(403, "reveal ticket expired or invalid")
    with domain_errors():
        data, mime = service.image(auth.who, item_id, clear=clear, frame=frame)
    return Response(data, media_type=mime, headers=NO_STORE)


@router.post("/items/{item_id}/reveal")
def reveal(
    request: Request,
    item_id: ItemId,
    frame: int = Form(0, ge=0, le=63),
    auth: PageAuth = Depends(analyst_action),
) -> Response:
    """One click, one image (of a video, one frame): a ticket for this item only, valid a
    minute."""
    service = get_service(request)
    with domain_errors():
        view = service.item(auth.who, item_id)
    expires = int(service.clock.now().timestamp()) + REVEAL_SECONDS
    ticket = reveal_ticket(auth.csrf, item_id, auth.who.id, expires)
    return render(request, "reveal.html", auth, item=view, ticket=ticket, frame=frame)


@router.post("/items/{item_id}/assess")
def assess(
    request: Request,
    item_id: ItemId,
    category: str = Form(...),
    severity: str = Form(""),
    auth: PageAuth = Depends(analyst_action),
) -> Response:
    with domain_errors():
        get_service(request).assess(auth.who, item_id, category, severity or None)
    return RedirectResponse("/console/next", status_code=303)


@router.post("/items/{item_id}/adjudicate")
def adjudicate(
    request: Request,
    item_id: ItemId,
    category: str = Form(...),
    severity: str = Form(""),
    auth: PageAuth = Depends(senior_action),
) -> Response:
    with domain_errors():
        get_service(request).adjudicate(auth.who, item_id, category, severity or None)
    return RedirectResponse("/console/adjudication", status_code=303)


@router.post("/exposure")
def heartbeat(request: Request, auth: PageAuth = Depends(analyst_action)) -> Response:
    """Charged while an item page is open and visible (the page's HTMX heartbeat)."""
    service = get_service(request)
    seconds = service.heartbeat(auth.who)
    cap = service.settings.exposure_cap_seconds
    note = " (daily cap reached)" if seconds >= cap else ""
    return HTMLResponse(f"{seconds // 60} of {cap // 60} min today{note}", headers=NO_STORE)


@router.get("/adjudication")
def adjudication(request: Request, auth: PageAuth = Depends(senior)) -> Response:
    return render(request, "adjudication.html", auth, items=get_service(request).disputed(auth.who))


@router.get("/banks")
def banks(request: Request, auth: PageAuth = Depends(senior)) -> Response:
    service = get_service(request)
    return render(
        request, "banks.html", auth, banks=service.banks(), entries=service.recent_entries()
    )


@router.post("/banks/{name}/enabled")
def bank_enabled(
    request: Request, name: str, enabled: bool = Form(...), auth: PageAuth = Depends(admin_action)
) -> Response:
    with domain_errors():
        get_service(request).set_bank_enabled(auth.who, name, enabled)
    return RedirectResponse("/console/banks", status_code=303)


@router.get("/audit")
def audit_log(
    request: Request, before: BeforeId = None, auth: PageAuth = Depends(admin)
) -> Response:
    rows = get_service(request).audit_log(limit=200, before_id=before)
    return render(request, "audit.html", auth, rows=rows)


@router.get("/users")
def users_page(request: Request, auth: PageAuth = Depends(admin)) -> Response:
    return render(request, "users.html", auth, users=get_service(request).users())


@router.post("/users/{username}/{action}")
def manage_user(
    request: Request, username: str, action: str, auth: PageAuth = Depends(admin_action)
) -> Response:
    """Disable, enable, or end every session of a user (administrators)."""
    with domain_errors():
        get_service(request).manage_user(auth.who, username, action)
    return RedirectResponse("/console/users", status_code=303)


@router.get("/password")
def password_form(request: Request, auth: PageAuth = Depends(analyst)) -> Response:
    return render(request, "password.html", auth, problem="")


@router.post("/password")
def change_password(
    request: Request,
    current: str = Form(...),
    new: str = Form(...),
    confirm: str = Form(...),
    auth: PageAuth = Depends(analyst_action),
) -> Response:
    """Change one's own password; every session of the user ends (log in again)."""
    problem = "the two new passwords differ" if new != confirm else ""
    if not problem:
        try:
            get_service(request).change_password(auth.token, current, new)
        except ReviewError as exc:
            problem = str(exc)
    if problem:
        return render(request, "password.html", auth, problem=problem, status_code=400)
    response = RedirectResponse("/console/login?changed=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/settings")
def settings_page(
    request: Request, auth: PageAuth = Depends(analyst), saved: bool = False
) -> Response:
    return render(request, "settings.html", auth, saved=saved)


@router.post("/settings")
def save_settings(
    request: Request,
    blur: bool = Form(False),
    greyscale: bool = Form(False),
    mute_video: bool = Form(False),
    auth: PageAuth = Depends(analyst_action),
) -> Response:
    get_service(request).set_wellbeing(auth.who, blur=blur, greyscale=greyscale, mute=mute_video)
    return RedirectResponse("/console/settings?saved=1", status_code=303)
