"""Console test helpers: an app on the test store, logged-in browsers and API keys."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient
from review_world import KEY, PASSWORD, World

from orbweaver.access import create_client
from orbweaver.web.app import create_app
from orbweaver.web.settings import WebSettings

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def console_app(world: World) -> FastAPI:
    return create_app(WebSettings(suspect_key=KEY), world.store, world.clock)


def browser(app: FastAPI, username: str) -> tuple[TestClient, str]:
    """A client logged in as `username`, and its session's CSRF token."""
    client = TestClient(app, follow_redirects=False)
    page = client.get("/console/login")
    token = _CSRF.search(page.text)
    assert token, page.text
    answer = client.post(
        "/console/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
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
