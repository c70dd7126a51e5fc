"""The analyst console: server-rendered pages (Jinja2) with a little HTMX.

No route is anonymous except the login form and the static files it needs. Images are only
ever fetched through `/image`, which softens them unless the request carries a reveal ticket
that a click (a CSRF-checked POST) just issued.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from orbweaver.categories import LABELS
from orbweaver.review import Busy, Forbidden, NotFound, ReviewError, ReviewService, ReviewSettings
from orbweaver.store.models import CATEGORIES, SEVERITIES
from orbweaver.web.console.security import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    ItemId,
    PageAuth,
    SessionFirstRoute,
    confirmed,
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
    values.update(auth=auth, categories=CATEGORIES, severities=SEVERITIES, labels=LABELS)
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
def queue(
    request: Request, auth: PageAuth = Depends(analyst), empty: bool = False, done: int = 0
) -> Response:
    service = get_service(request)
    service.sync_if_due()
    items = service.top(limit=50)
    return render(
        request,
        "queue.html",
        auth,
        items=items,
        counts=service.counts(),
        exposure=_exposure(service, auth),
        empty=empty,
        notice=f"Your assessment of item {done} was recorded." if done > 0 else "",
        mine=service.assessed_by(auth.who, [item.id for item in items]),
    )


@router.get("/next")
def next_item(request: Request, auth: PageAuth = Depends(analyst), done: int = 0) -> Response:
    """The next item for me; `done` (the item just assessed) is confirmed on the next page."""
    view = get_service(request).serve_next(auth.who)
    after = f"done={done}" if done > 0 else ""
    if view is None:
        target = "/console/queue?empty=1" + (f"&{after}" if after else "")
    else:
        target = f"/console/items/{view.id}" + (f"?{after}" if after else "")
    return RedirectResponse(target, status_code=303)


def _exposure(service: ReviewService, auth: PageAuth) -> dict[str, Any]:
    used = service.exposure_today(auth.who)
    cap = service.policy().exposure_cap_seconds
    return {"text": exposure_text(used, cap), "cap_minutes": cap // 60, "over": used >= cap}


def exposure_text(used: int, cap: int) -> str:
    """The counter to the second: a cap of four hours is spent in 15-second heartbeats."""
    note = " (daily cap reached)" if used >= cap else ""
    return f"{used // 60} min {used % 60:02d} s of {cap // 60} min today{note}"


def _item_response(
    request: Request,
    auth: PageAuth,
    item_id: int,
    *,
    problem: str = "",
    status_code: int = 200,
    notice: str = "",
) -> Response:
    """The item page, with a refusal or a confirmation on it: the analyst keeps their place."""
    service = get_service(request)
    with domain_errors():
        view = service.item(auth.who, item_id)
    used = _exposure(service, auth)
    blind = used["over"] and not service.has_seen(auth.who, item_id)
    blur, greyscale = service.softening(auth.who)
    return render(
        request,
        "item.html",
        auth,
        item=view,
        exposure=used,
        blind=blind,
        blur=blur,
        greyscale=greyscale,
        problem=problem,
        notice=notice,
        heartbeat=service.settings.review_heartbeat_seconds,
        status_code=status_code,
    )


def _refusal_status(exc: ReviewError) -> int:
    return 404 if isinstance(exc, NotFound) else 403 if isinstance(exc, Forbidden) else 409


@router.get("/items/{item_id}")
def item_page(
    request: Request, item_id: ItemId, auth: PageAuth = Depends(analyst), done: int = 0
) -> Response:
    notice = f"Your assessment of item {done} was recorded." if done > 0 else ""
    return _item_response(request, auth, item_id, notice=notice)


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
    if not view.may:
        raise HTTPException(403, "this image is not yours to view")
    expires = int(service.clock.now().timestamp()) + REVEAL_SECONDS
    ticket = reveal_ticket(auth.csrf, item_id, auth.who.id, expires)
    return render(request, "reveal.html", auth, item=view, ticket=ticket, frame=frame)


@router.get("/items/{item_id}/soft")
def soft(request: Request, item_id: ItemId, auth: PageAuth = Depends(analyst)) -> Response:
    """The softened preview again, in place of a revealed image ("blur again")."""
    service = get_service(request)
    with domain_errors():
        view = service.item(auth.who, item_id)
    blur, greyscale = service.softening(auth.who)
    return render(request, "soft.html", auth, item=view, blur=blur, greyscale=greyscale)


def _decision(
    request: Request, auth: PageAuth, item_id: int, act: Callable[[], object], then: str
) -> Response:
    """Carry out a decision; a refusal re-renders the item page with the reason on it."""
    try:
        act()
    except ReviewError as exc:
        return _item_response(
            request, auth, item_id, problem=str(exc), status_code=_refusal_status(exc)
        )
    return RedirectResponse(then, status_code=303)


@router.post("/items/{item_id}/assess")
def assess(
    request: Request,
    item_id: ItemId,
    category: str = Form(...),
    severity: str = Form(""),
    auth: PageAuth = Depends(analyst_action),
) -> Response:
    service = get_service(request)
    return _decision(
        request,
        auth,
        item_id,
        lambda: service.assess(auth.who, item_id, category, severity or None),
        f"/console/next?done={item_id}",
    )


@router.post("/items/{item_id}/adjudicate")
def adjudicate(
    request: Request,
    item_id: ItemId,
    category: str = Form(...),
    severity: str = Form(""),
    auth: PageAuth = Depends(senior_action),
) -> Response:
    service = get_service(request)
    return _decision(
        request,
        auth,
        item_id,
        lambda: service.adjudicate(auth.who, item_id, category, severity or None),
        f"/console/adjudication/next?done={item_id}",
    )


@router.post("/items/{item_id}/pass")
def pass_over(
    request: Request,
    item_id: ItemId,
    defer: bool = Form(False),
    auth: PageAuth = Depends(analyst_action),
) -> Response:
    """Skip (someone else takes it) or defer (back in my queue later); then the next item."""
    service = get_service(request)
    return _decision(
        request,
        auth,
        item_id,
        lambda: service.pass_over(auth.who, item_id, defer=defer),
        "/console/next",
    )


@router.post("/items/{item_id}/escalate")
def escalate(
    request: Request,
    item_id: ItemId,
    note: str = Form(""),
    auth: PageAuth = Depends(analyst_action),
) -> Response:
    """ "Unsure": the item goes to a senior analyst, with the analyst's reason."""
    service = get_service(request)
    return _decision(
        request, auth, item_id, lambda: service.escalate(auth.who, item_id, note), "/console/next"
    )


@router.post("/items/{item_id}/note")
def add_note(
    request: Request,
    item_id: ItemId,
    note: str = Form(""),
    auth: PageAuth = Depends(analyst_action),
) -> Response:
    service = get_service(request)
    return _decision(
        request,
        auth,
        item_id,
        lambda: service.add_note(auth.who, item_id, note),
        f"/console/items/{item_id}",
    )


@router.get("/decisions")
def my_decisions(request: Request, auth: PageAuth = Depends(analyst)) -> Response:
    """What I decided, and where it led (the verdict, the notices it produced)."""
    rows = get_service(request).my_decisions(auth.who)
    return render(request, "decisions.html", auth, rows=rows)


@router.post("/exposure")
def heartbeat(request: Request, auth: PageAuth = Depends(analyst_action)) -> Response:
    """Charged while an item page is open and visible (the page's HTMX heartbeat). At the cap
    the answer also swaps the image out of the page at once (an out-of-band swap), and every
    `review_break_minutes` it shows a break reminder."""
    service = get_service(request)
    seconds = service.heartbeat(auth.who)
    policy = service.policy()
    cap = policy.exposure_cap_seconds
    body = templates.get_template("heartbeat.html").render(
        text=exposure_text(seconds, cap),
        over=seconds >= cap,
        cap_minutes=cap // 60,
        rest=_break_due(seconds, policy),
    )
    return HTMLResponse(body, headers=NO_STORE)


def _break_due(seconds: int, settings: ReviewSettings) -> int:
    """Minutes of exposure so far when this heartbeat crossed a break interval, else 0."""
    every = int(settings.review_break_minutes * 60)
    beat = settings.review_heartbeat_seconds
    if every <= 0 or seconds // every == (seconds - beat) // every:
        return 0
    return max(1, seconds // 60)


@router.get("/adjudication")
def adjudication(request: Request, auth: PageAuth = Depends(senior)) -> Response:
    return render(request, "adjudication.html", auth, items=get_service(request).disputed(auth.who))


@router.get("/adjudication/next")
def next_disputed(
    request: Request, auth: PageAuth = Depends(senior), after: int = 0, done: int = 0
) -> Response:
    """A senior's "next": the next disputed item they may settle (not the one they are on)."""
    for view in get_service(request).disputed(auth.who):
        if view.may == "adjudicate" and view.id not in (after, done):
            return RedirectResponse(f"/console/items/{view.id}", status_code=303)
    return RedirectResponse("/console/adjudication", status_code=303)


@router.get("/banks")
def banks(request: Request, auth: PageAuth = Depends(senior)) -> Response:
    service = get_service(request)
    imported = {k: request.query_params.get(k, "") for k in BANK_IMPORT_RESULT}
    return render(
        request,
        "banks.html",
        auth,
        banks=service.banks(),
        entries=service.recent_entries(),
        imported=imported if imported["imported"] else None,
        held=service.held_entries(),
    )


BANK_IMPORT_RESULT = ("imported", "added", "duplicates", "rejected")


@router.post("/banks/quality")
def bank_quality(
    request: Request,
    action: str = Form(...),
    reason: str = Form(""),
    entry_id: int | None = Form(None),
    bank: str = Form(""),
    distance: int | None = Form(None),
    auth: PageAuth = Depends(senior_action),
) -> Response:
    """Signal quality controls: switch one entry off or on, release a quarantined entry, set a
    bank's PDQ distance; each with a reason, audited, in force at the matchers' next refresh."""
    with domain_errors():
        get_service(request).bank_quality(
            auth.who, action, reason=reason, entry_id=entry_id, bank=bank, distance=distance
        )
    return RedirectResponse("/console/banks", status_code=303)


@router.post("/banks/{name}/enabled")
def bank_enabled(
    request: Request,
    name: str,
    enabled: bool = Form(...),
    reason: str = Form(""),
    confirm: str = Form(""),
    auth: PageAuth = Depends(admin_action),
) -> Response:
    """Enable or disable a bank: disabling needs the bank's name typed again and a reason;
    both go to the audit log."""
    confirmed(reason, typed=None if enabled else confirm, name=name, what="bank's")
    with domain_errors():
        get_service(request).set_bank_enabled(auth.who, name, enabled, reason=reason)
    return RedirectResponse("/console/banks", status_code=303)


@router.get("/users")
def users_page(request: Request, auth: PageAuth = Depends(admin)) -> Response:
    return render(request, "users.html", auth, users=get_service(request).users())


@router.post("/users")
def add_user_form(
    request: Request,
    username: str = Form(...),
    role: str = Form(...),
    reason: str = Form(""),
    auth: PageAuth = Depends(admin_action),
) -> Response:
    """Add a user (administrators), with a reason; its first password is shown on this page
    once (not a redirect: it is in no URL and the page is not cached)."""
    confirmed(reason)
    service = get_service(request)
    with domain_errors():
        password = service.add_user(auth.who, username, role, reason=reason)
    added = {"username": username.strip(), "role": role, "password": password}
    return render(request, "users.html", auth, users=service.users(), added=added)


@router.post("/users/{username}/{action}")
def manage_user(
    request: Request,
    username: str,
    action: str,
    reason: str = Form(""),
    auth: PageAuth = Depends(admin_action),
) -> Response:
    """Disable, enable, or end every session of a user (administrators), with a reason."""
    confirmed(reason)
    with domain_errors():
        get_service(request).manage_user(auth.who, username, action, reason=reason)
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
    service = get_service(request)
    return render(
        request,
        "settings.html",
        auth,
        saved=saved,
        policy=service.policy(),
        deployment=service.settings,
    )


@router.post("/settings")
def save_settings(
    request: Request,
    blur: bool = Form(False),
    greyscale: bool = Form(False),
    mute_video: bool = Form(False),
    shortcuts: bool = Form(False),
    auth: PageAuth = Depends(analyst_action),
) -> Response:
    get_service(request).set_wellbeing(
        auth.who, blur=blur, greyscale=greyscale, mute=mute_video, shortcuts=shortcuts
    )
    return RedirectResponse("/console/settings?saved=1", status_code=303)


@router.post("/policy")
def save_policy(
    request: Request,
    blur: bool = Form(False),
    greyscale: bool = Form(False),
    cap_hours: float = Form(...),
    break_minutes: float = Form(...),
    reason: str = Form(""),
    auth: PageAuth = Depends(admin_action),
) -> Response:
    """The organisation's wellbeing policy (administrators), with a reason; audited."""
    why = confirmed(reason)
    with domain_errors():
        get_service(request).set_policy(
            auth.who,
            blur=blur,
            greyscale=greyscale,
            cap_hours=cap_hours,
            break_minutes=break_minutes,
            reason=why,
        )
    return RedirectResponse("/console/settings?saved=1#policy", status_code=303)
