"""The console against an attacker (issue 14): Secure cookies, a CSP the templates can live
with, and (further down) login throttling and the second factor."""

from __future__ import annotations

import re
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
from review_world import PASSWORD, World
from web_helpers import console_app, https_client

from orbweaver.review import ReviewSettings
from orbweaver.roles import ProductSettings, refuse_plain_http_cookies

TEMPLATES = Path(__file__).parents[2] / "src/orbweaver/web/console/templates"


def set_cookies(answer: object) -> dict[str, SimpleCookie]:
    found: dict[str, SimpleCookie] = {}
    for header in answer.headers.get_list("set-cookie"):  # type: ignore[attr-defined]
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        for name in cookie:
            found[name] = cookie
    return found


def login_once(world: World, **kwargs: object) -> tuple[dict[str, SimpleCookie], object]:
    """The cookies the login form and then the login set (the form's, then the session's)."""
    app = console_app(world, **kwargs)  # type: ignore[arg-type]
    client = https_client(app, follow_redirects=False)
    page = client.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    answer = client.post(
        "/console/login",
        data={"username": "ana", "password": PASSWORD, "csrf_token": token.group(1)},
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/console/queue"
    cookies = set_cookies(answer)
    cookies["ow_login"] = set_cookies(page)["ow_login"]
    return cookies, answer


def test_session_and_login_cookies_are_secure_by_default(world: World) -> None:
    world.user("ana")
    cookies, _ = login_once(world)
    assert cookies["ow_login"]["ow_login"]["secure"]
    assert cookies["ow_session"]["ow_session"]["secure"]
    assert cookies["ow_session"]["ow_session"]["httponly"]
    assert ReviewSettings().review_cookie_secure  # the default a deployment gets


def test_plain_http_development_turns_secure_off_on_loopback_only(world: World) -> None:
    world.user("ana")
    cookies, _ = login_once(world, plain_http=True)
    assert not cookies["ow_session"]["ow_session"]["secure"]
    dev = ProductSettings(review=ReviewSettings(review_cookie_secure=False))
    refuse_plain_http_cookies(dev, "127.0.0.1")
    with pytest.raises(ValueError, match="review_cookie_secure"):
        refuse_plain_http_cookies(dev, "0.0.0.0")
    refuse_plain_http_cookies(ProductSettings(), "0.0.0.0")  # Secure cookies: anywhere


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES.glob("*.html")))
def test_templates_have_no_inline_script_or_style(template: str) -> None:
    """The CSP allows only same-origin files: inline code would be blocked (and is a risk)."""
    text = (TEMPLATES / template).read_text()
    assert not re.search(r"<script(?![^>]*\ssrc=)[^>]*>", text), "inline <script>"
    assert "<style" not in text and not re.search(r"\sstyle=", text), "inline style"
    assert not re.search(r"\son[a-z]+=", text), "inline event handler"
    assert not re.search(r"\shx-on", text) and "javascript:" not in text
