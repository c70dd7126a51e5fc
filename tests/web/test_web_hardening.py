"""The web app against an attacker: credentials before bodies, no public API description,
security headers on every answer (issue 14, items 13 and 4)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from httpx import Response
from PIL import Image
from test_web_shield import bank, make_client, wait_for

from orbweaver.access import create_client
from orbweaver.clock import SettableClock
from orbweaver.store import Store
from orbweaver.web.app import create_app
from orbweaver.web.settings import WebSettings

__all__ = ["bank"]  # the fixture, shared with test_web_shield


def app_on(store: Store, clock: SettableClock, **settings: object) -> FastAPI:
    return create_app(WebSettings(**settings), store, clock)  # type: ignore[arg-type]


@pytest.fixture
def client(sqlite_store: Store, clock: SettableClock) -> Iterator[TestClient]:
    with TestClient(app_on(sqlite_store, clock)) as c:
        yield c


def body_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) whose handler takes a JSON body."""
    found = []
    for route in all_routes(app.routes):
        # anonymous by design: the login form, and the public report form (issue 19), which
        # is rate-limited and asks a proof of work instead (tests/web/test_public_report.py)
        if route.dependant.body_params and route.path not in ("/console/login", "/report"):
            found.extend((method, route.path) for method in route.methods)
    return found


def all_routes(routes: list[Any]) -> list[Any]:
    """API routes, including those of included routers (FastAPI keeps those lazily)."""
    out: list[Any] = []
    for route in routes:
        if isinstance(route, APIRoute):
            out.append(route)
        elif hasattr(route, "effective_route_contexts"):
            out.extend(route.effective_route_contexts())
    return out


def concrete(path: str) -> str:
    return path.replace("{item_id}", "1")


def test_credentials_are_checked_before_the_body_is_parsed(client: TestClient) -> None:
    """A malformed body from an anonymous caller gets 401, not a 422 that shows it was parsed."""
    routes = body_routes(client.app)  # type: ignore[arg-type]
    assert ("POST", "/v1/pdq/") in routes and len(routes) >= 3
    for method, path in routes:
        for auth in (None, ("nobody", "wrong")):
            answer = client.request(
                method,
                concrete(path),
                content=b'{"hashes": [',
                headers={"content-type": "application/json"},
                auth=auth,
            )
            assert answer.status_code == 401, (method, path, auth, answer.text)
            assert path.startswith("/console") or "WWW-Authenticate" in answer.headers


def test_a_valid_key_still_gets_its_validation_error(
    sqlite_store: Store, clock: SettableClock
) -> None:
    username, secret = create_client(sqlite_store, clock, "provider").split(":")
    with TestClient(app_on(sqlite_store, clock)) as client:
        answer = client.post(
            "/v1/pdq/",
            content=b'{"hashes": [',
            headers={"content-type": "application/json"},
            auth=(username, secret),
        )
        assert answer.status_code == 422, answer.text
        wrong_scope = create_client(sqlite_store, clock, "bot", scopes=("review",)).split(":")
        refused = client.post("/v1/pdq/", json={"hashes": []}, auth=tuple(wrong_scope))
        assert refused.status_code == 403


def test_api_description_is_off_by_default(sqlite_store: Store, clock: SettableClock) -> None:
    with TestClient(app_on(sqlite_store, clock)) as client:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert client.get(path).status_code == 404, path
    with TestClient(app_on(sqlite_store, clock, web_api_docs=True)) as client:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert client.get(path).status_code == 200, path


def test_every_answer_carries_the_security_headers(client: TestClient) -> None:
    answers = [
        client.get("/status"),
        client.get("/console/login"),
        client.get("/console/queue", follow_redirects=False),
        client.get("/no-such-page"),
        client.post("/v1/pdq/", json={"hashes": []}),
    ]
    for answer in answers:
        csp = answer.headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
        assert directives["frame-ancestors"] == "'none'"
        assert directives["script-src"] == "'self'" and "unsafe" not in csp
        assert directives["default-src"] == "'none'"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["strict-transport-security"].startswith("max-age=")
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["x-content-type-options"] == "nosniff"


# --- the Shield's pixel budget (item 5) -------------------------------------------------------


def picture(fmt: str, width: int, height: int) -> bytes:
    """A flat grey synthetic picture: tiny as PNG, however many pixels it declares."""
    out = io.BytesIO()
    Image.new("L", (width, height), 128).save(out, fmt)
    return out.getvalue()


def upload(client: TestClient, auth: tuple[str, str], data: bytes, mime: str) -> Response:
    return client.post("/v1/media/", content=data, headers={"content-type": mime}, auth=auth)


def test_a_small_png_declaring_64_megapixels_is_refused_before_decoding(
    bank: Store, clock: SettableClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    bomb = picture("PNG", 8000, 8000)
    assert len(bomb) < 200_000
    client, auth = make_client(bank, clock, shield_refresh_interval_s=0.05)
    try:
        wait_for(lambda: client.get("/status").status_code == 200)
        answer = upload(client, auth, bomb, "image/png")
        assert answer.status_code == 422, answer.text
        assert "budget" in answer.json()["detail"]
        # a 24-megapixel JPEG decodes at 1/8 scale: within the budget, and hashed
        photo = upload(client, auth, picture("JPEG", 6000, 4000), "image/jpeg")
        assert photo.status_code == 200, photo.text
    finally:
        client.__exit__(None, None, None)


def test_uploads_are_charged_by_decoded_pixels(bank: Store, clock: SettableClock) -> None:
    client, auth = make_client(
        bank,
        clock,
        shield_refresh_interval_s=0.05,
        shield_rate_burst=25,
        shield_rate_per_minute=1,
        shield_pixels_per_token=100_000,
    )
    try:
        wait_for(lambda: client.get("/status").status_code == 200)
        megapixel = picture("PNG", 1000, 1000)  # 1 + 10 tokens a request
        answers = [upload(client, auth, megapixel, "image/png").status_code for _ in range(3)]
        assert answers == [200, 200, 429]
    finally:
        client.__exit__(None, None, None)


def test_concurrent_decodes_are_bounded(bank: Store, clock: SettableClock) -> None:
    client, auth = make_client(
        bank,
        clock,
        shield_refresh_interval_s=0.05,
        shield_decode_concurrency=1,
        shield_decode_wait_s=0.1,
    )
    try:
        wait_for(lambda: client.get("/status").status_code == 200)
        decodes = client.app.state.ctx.decodes  # type: ignore[attr-defined]
        assert decodes.acquire(timeout=1)  # another request is decoding
        try:
            busy = upload(client, auth, picture("PNG", 300, 300), "image/png")
        finally:
            decodes.release()
        assert busy.status_code == 503 and "Retry-After" in busy.headers
        assert upload(client, auth, picture("PNG", 300, 300), "image/png").status_code == 200
    finally:
        client.__exit__(None, None, None)
