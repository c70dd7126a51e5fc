"""Console test helpers: an app on the test store, logged-in browsers and API keys."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient
from review_world import KEY, PASSWORD, World, totp_code

from orbweaver.access import create_client
from orbweaver.review import ReviewSettings
from orbweaver.web.app import create_app
from orbweaver.web.settings import WebSettings

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def console_app(
    world: World, *, plain_http: bool = False, docs: bool = False, **review: object
) -> FastAPI:
    """The app on the world's store. Cookies are Secure as in production (clients use
    `https://testserver`) unless `plain_http`, for a real server on loopback HTTP."""
    settings = ReviewSettings(review_cookie_secure=not plain_http, **review)  # type: ignore[arg-type]
    return create_app(
        WebSettings(suspect_key=KEY, web_api_docs=docs), world.store, world.clock, review=settings
    )


def https_client(app: FastAPI, **kwargs: object) -> TestClient:
    """A test client speaking to the app as a browser over HTTPS would (Secure cookies)."""
    return TestClient(app, base_url="https://testserver", **kwargs)  # type: ignore[arg-type]


def browser(app: FastAPI, username: str) -> tuple[TestClient, str]:
    """A client logged in as `username`, and its session's CSRF token."""
    client = https_client(app, follow_redirects=False)
    page = client.get("/console/login")
    token = _CSRF.search(page.text)
    assert token, page.text
    ctx = app.state.ctx
    code = totp_code(ctx.store, ctx.clock.now(), username)
    answer = client.post(
        "/console/login",
        data={
            "username": username,
            "password": PASSWORD,
            "csrf_token": token.group(1),
            "code": code,
        },
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/console/queue"
    settings = client.get("/console/settings")
    found = _CSRF.search(settings.text)
    assert found, settings.text
    return client, found.group(1)


def api_key(world: World, username: str) -> tuple[str, str]:
    key = create_client(world.store, world.clock, username, scopes=("review",))
    user, secret = key.split(":", 1)
    return user, secret
