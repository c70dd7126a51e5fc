"""Every console and review API route refuses anonymous users and wrong roles, state changes
need the CSRF token, and no route can change the audit log.

Routes are enumerated from `app.routes`, so a route added later is covered automatically: one
without a registered guard fails `test_every_route_has_a_guard`.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from review_world import World
from web_helpers import api_key, browser, console_app

from orbweaver.review.accounts import ROLE_RANK
from orbweaver.store.models import AuditEntry, ReviewItem
from orbweaver.web.console.security import ROLE_OF

PREFIXES = ("/console", "/api/review")
# Public on purpose: the login form, and the CSS/JS it needs. Nothing else.
PUBLIC = {("GET", "/console/login"), ("POST", "/console/login"), ("GET", "/console/static/{name}")}
LOWER = {"analyst": None, "senior_analyst": "analyst", "administrator": "senior_analyst"}


def guarded_routes(app: FastAPI) -> list[tuple[str, str, str]]:
    """(method, path, role) of every console/API route but the public ones."""
    found = []
    for route in all_routes(app.routes):
        if not route.path.startswith(PREFIXES):
            continue
        for method in sorted(route.methods):
            if (method, route.path) not in PUBLIC:
                found.append((method, route.path, _role(route.dependant)))
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


def _role(dependant: Any) -> str:
    """The strictest registered guard among the route's dependencies ('' when none)."""
    roles = [ROLE_OF[d.call] for d in _walk(dependant) if d.call in ROLE_OF]
    return max(roles, key=ROLE_RANK.__getitem__, default="")


def _walk(dependant: Any) -> list[Any]:
    out = []
    for dep in dependant.dependencies:
        out.append(dep)
        out.extend(_walk(dep))
    return out


@pytest.fixture
def setup(sqlite_world: World) -> tuple[World, FastAPI, int]:
    world = sqlite_world
    world.suspect(1)
    for name, role in (("ana", "analyst"), ("sen", "senior_analyst"), ("adm", "administrator")):
        world.user(name, role)
    app = console_app(world)
    world_service = world.service()
    world_service.sync()
    with world.store.session() as s:
        item_id = s.scalars(sa.select(ReviewItem.id)).one()
    return world, app, item_id


def concrete(path: str, item_id: int) -> str:
    return path.replace("{item_id}", str(item_id)).replace("{name}", "hotline")


def call(client: TestClient, method: str, path: str, **kw: Any) -> int:
    if method == "GET":
        return client.get(path, **kw).status_code
    return client.request(
        method, path, data={"category": "not_actionable", "enabled": "true"}, **kw
    ).status_code


def test_every_route_has_a_guard(setup: tuple[World, FastAPI, int]) -> None:
    _, app, _ = setup
    routes = guarded_routes(app)
    assert len(routes) > 20
    unguarded = [(m, p) for m, p, role in routes if not role]
    assert unguarded == []


def test_anonymous_users_are_refused_everywhere(setup: tuple[World, FastAPI, int]) -> None:
    _, app, item_id = setup
    client = TestClient(app, follow_redirects=False)
    for method, path, _ in guarded_routes(app):
        status = call(client, method, concrete(path, item_id))
        if path.startswith("/console") and method == "GET":
            assert status == 303, (method, path, status)  # to the login page
        else:
            assert status == 401, (method, path, status)


def test_wrong_roles_are_refused(setup: tuple[World, FastAPI, int]) -> None:
    world, app, item_id = setup
    users = {"analyst": "ana", "senior_analyst": "sen"}
    browsers = {role: browser(app, name) for role, name in users.items()}
    keys = {role: api_key(world, name) for role, name in users.items()}
    checked = 0
    for method, path, role in guarded_routes(app):
        lower = LOWER[role]
        if lower is None:
            continue
        url = concrete(path, item_id)
        if path.startswith("/api/"):
            status = call(TestClient(app), method, url, auth=keys[lower])
        else:
            client, csrf = browsers[lower]
            status = call(client, method, url, headers={"X-CSRF-Token": csrf})
        assert status == 403, (method, path, lower, status)
        checked += 1
    assert checked >= 6


def test_state_changes_without_the_csrf_token_are_refused(
    setup: tuple[World, FastAPI, int],
) -> None:
    _, app, item_id = setup
    client, csrf = browser(app, "adm")
    posts = [(m, p) for m, p, _ in guarded_routes(app) if m != "GET" and p.startswith("/console")]
    assert len(posts) >= 7
    for method, path in posts:
        url = concrete(path, item_id)
        assert call(client, method, url) == 403, path
        assert call(client, method, url, headers={"X-CSRF-Token": "x" + csrf}) == 403, path
    # Login itself is protected too (double-submit token).
    fresh = TestClient(app, follow_redirects=False)
    fresh.get("/console/login")
    refused = fresh.post(
        "/console/login", data={"username": "adm", "password": "x" * 12, "csrf_token": "forged"}
    )
    assert refused.status_code == 403


def test_no_route_changes_the_audit_log(setup: tuple[World, FastAPI, int]) -> None:
    world, app, item_id = setup
    client, csrf = browser(app, "adm")
    client.get(f"/console/items/{item_id}/image")
    before = _audit_rows(world)
    assert before
    admin_key = api_key(world, "adm")
    api = TestClient(app)
    for _method, path, _ in guarded_routes(app):
        if path.endswith("/logout"):
            continue  # keep the session for the routes after it
        url = concrete(path, item_id)
        for verb in ("POST", "PUT", "PATCH", "DELETE"):
            if path.startswith("/api/"):
                api.request(verb, url, json={"category": "not_actionable"}, auth=admin_key)
            else:
                call(client, verb, url, headers={"X-CSRF-Token": csrf})
    after = _audit_rows(world)
    assert after[: len(before)] == before, "existing audit rows must never change"
    audit_routes = [(m, p) for m, p, _ in guarded_routes(app) if "audit" in p]
    assert audit_routes and all(m == "GET" for m, _ in audit_routes)


def _audit_rows(world: World) -> list[tuple[Any, ...]]:
    with world.store.session() as s:
        rows = s.execute(
            sa.select(
                AuditEntry.id,
                AuditEntry.at,
                AuditEntry.actor,
                AuditEntry.action,
                AuditEntry.subject_id,
                AuditEntry.detail,
            ).order_by(AuditEntry.id)
        ).all()
    return [tuple(r) for r in rows]
