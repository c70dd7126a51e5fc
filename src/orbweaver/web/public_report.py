"""The public report form (issue 19): anyone, without an account, reports a URL; it becomes a
seed of the next crawl exactly as `orbweaver submit` records one (`source="report"`), and the
reporter gets a reference number and nothing else (not whether the URL was known, nor what
was found).

Abuse is kept down without a CAPTCHA: a token bucket per client address (`report_rate_*`, the
web's own limiter, shared through Redis when configured) and a proof of work per report
(`pow.ProofOfWork`, solved by `/report/pow.js` in the browser, checked here). The client
address is the connection's: behind a reverse proxy run uvicorn with `--proxy-headers` and
`--forwarded-allow-ips` so it is the reporter's, not the proxy's.
"""

from __future__ import annotations

import html
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from orbweaver.store import EventKind, record_event
from orbweaver.web.context import WebContext, get_context
from orbweaver.web.pow import PowError, ProofOfWork
from orbweaver.web.ratelimit import retry_after_header

# A browser form, not part of the API: kept out of the OpenAPI description (like the console),
# so its HTML answers are not held to the API's JSON error shapes.
router = APIRouter(tags=["public report"], include_in_schema=False)
HERE = Path(__file__).parent
MAX_URL = 2048
MAX_NOTE = 2000


def _pow(request: Request) -> ProofOfWork:
    """This app's proof-of-work checker (one per app: its used-challenge memory)."""
    pow_ = getattr(request.app.state, "report_pow", None)
    if pow_ is None:
        s = get_context(request).settings
        pow_ = ProofOfWork(s.report_pow_secret, s.report_pow_bits, s.report_pow_max_age_s)
        request.app.state.report_pow = pow_
    return pow_


def _enabled(ctx: WebContext) -> None:
    if not ctx.settings.report_form_enabled:
        raise HTTPException(404, "no public report form here")


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width">'
        f"<title>{html.escape(title)}</title></head><body><main>"
        f"<h1>{html.escape(title)}</h1>{body}</main></body></html>",
        status_code=status,
    )


@router.get("/report", response_class=HTMLResponse)
def report_form(request: Request) -> HTMLResponse:
    """The form: a URL, an optional note, and a challenge the page's script solves."""
    ctx = get_context(request)
    _enabled(ctx)
    pow_ = _pow(request)
    challenge = pow_.challenge(ctx.clock.now().timestamp())
    return _page(
        "Report a URL",
        "<p>Report a web address where you saw child sexual abuse material. You need no "
        "account; you get a reference number. Do not download or send the pictures.</p>"
        '<form method=post action="/report" id=report>'
        "<label>URL <input name=url type=url required maxlength=2048 size=60></label><br>"
        f"<label>Note (optional) <textarea name=note maxlength={MAX_NOTE}></textarea></label><br>"
        f'<input type=hidden name=challenge value="{html.escape(challenge)}">'
        f'<input type=hidden name=bits value="{pow_.bits}">'
        "<input type=hidden name=counter value=''>"
        "<button type=submit id=send disabled>Preparing…</button>"
        "<p id=status>Your browser does a little work first (a few seconds), instead of a "
        "CAPTCHA.</p></form>"
        '<script src="/report/pow.js"></script>',
    )


@router.get("/report/pow.js")
def pow_script() -> Response:
    return Response((HERE / "pow.js").read_bytes(), media_type="text/javascript")


@router.post("/report", response_class=HTMLResponse)
def report_submit(
    request: Request,
    url: str = Form(..., max_length=MAX_URL),
    challenge: str = Form(..., max_length=200),
    counter: str = Form(..., max_length=20),
    note: str = Form("", max_length=MAX_NOTE),
) -> HTMLResponse:
    """Rate limit, proof of work, URL check; then a seed and a reference number."""
    ctx = get_context(request)
    _enabled(ctx)
    address = request.client.host if request.client else "unknown"
    wait = ctx.limiter.take(
        ("report", address),
        1,
        rate_per_minute=ctx.settings.report_rate_per_minute,
        burst=ctx.settings.report_rate_burst,
    )
    if wait is not None:
        response = _page("Too many reports", "<p>Please try again later.</p>", 429)
        response.headers["Retry-After"] = retry_after_header(wait)
        return response
    try:
        _pow(request).check(challenge, counter, ctx.clock.now().timestamp())
    except PowError as exc:
        return _page("Not sent", f"<p>{html.escape(str(exc))}</p>", 400)
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return _page("Not sent", "<p>That is not a web address (http:// or https://).</p>", 400)
    reference = record_public_report(ctx, url, note.strip())
    return _page(
        "Thank you",
        f"<p>Your report was received. Reference: <strong id=reference>{reference}</strong>"
        "</p><p>Quote it if you contact the hotline about this report.</p>",
    )


def record_public_report(ctx: WebContext, url: str, note: str) -> str:
    """The seed (as `orbweaver submit` records it) and a `report.received` event with the
    reference; returns the reference."""
    from orbweaver.crawl import add_seeds

    reference = f"OW-{secrets.token_hex(5).upper()}"
    new = add_seeds(
        ctx.store, ctx.clock, [url], source="report", reporter=f"public:{reference}", note=note
    )
    with ctx.store.session() as session:
        record_event(
            session,
            ctx.clock,
            EventKind.REPORT_RECEIVED,
            actor="public",
            payload={"reference": reference, "url": url, "new": bool(new)},
        )
    return reference
