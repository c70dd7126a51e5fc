"""The console and the JSON API end to end (in-process): pages, reveal, consensus over both."""

from __future__ import annotations

import io

import sqlalchemy as sa
from fastapi.testclient import TestClient
from PIL import Image
from review_world import World
from web_helpers import api_key, browser, console_app

from orbweaver.store.models import AuditEntry, Detection, ReviewItem, Suspect


def test_console_and_api_reach_a_verdict(world: World) -> None:
    media = world.media(1)
    world.sighting(media[0], "past.example.test")
    world.suspect(1, media=media)
    world.user("alice")
    world.user("bob")
    app = console_app(world)
    alice, csrf = browser(app, "alice")

    queue = alice.get("/console/queue")
    assert queue.status_code == 200 and "still online" in queue.text and "<img" not in queue.text
    item_url = alice.get("/console/next").headers["location"]
    page = alice.get(item_url)
    assert 'id="soft"' in page.text and "Reveal this image" in page.text
    soft = Image.open(io.BytesIO(alice.get(f"{item_url}/image").content))
    assert soft.mode == "L"
    reveal = alice.post(f"{item_url}/reveal", headers={"X-CSRF-Token": csrf})
    clear_src = reveal.text.split('src="')[1].split('"')[0]
    clear = Image.open(io.BytesIO(alice.get(clear_src).content))
    assert clear.mode == "RGB"
    assert alice.get(f"{item_url}/image?ticket=1.forged").status_code == 403
    answer = alice.post(
        f"{item_url}/assess",
        data={"category": "csam_postpubescent", "severity": "sex_act", "csrf_token": csrf},
    )
    item_id = int(item_url.rsplit("/", 1)[1])
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/console/next?done={item_id}"
    assert alice.get("/console/next").headers["location"] == "/console/queue?empty=1"

    auth = api_key(world, "bob")
    bot = TestClient(app)
    nxt = bot.get("/api/review/next", auth=auth).json()["item"]
    assert nxt["reasons"] and nxt["sha256"]
    assert bot.get(nxt["image_url"], auth=auth).headers["content-type"] == "image/png"
    outcome = bot.post(
        f"/api/review/items/{nxt['id']}/assessments",
        json={"category": "csam_postpubescent", "severity": "sex_act"},
        auth=auth,
    ).json()
    assert outcome == {
        "item_id": nxt["id"],
        "status": "decided",
        "verdict": "csam_postpubescent",
        "detections": 2,
    }
    with world.store.session() as s:
        assert s.scalar(sa.select(sa.func.count(Detection.id))) == 2
        assert s.scalars(sa.select(Suspect.ciphertext)).all() == [None]
        assert s.scalars(sa.select(ReviewItem.status)).all() == ["decided"]
        actions = set(s.scalars(sa.select(AuditEntry.action)))
    assert {"login", "image.view", "image.reveal", "assessment", "verdict"} <= actions


def test_openapi_publishes_the_review_api(world: World) -> None:
    spec = TestClient(console_app(world, docs=True)).get("/openapi.json").json()
    paths = spec["paths"]
    assert "/api/review/next" in paths and "/api/review/items/{item_id}/assessments" in paths
    assert not any(p.startswith("/console") for p in paths)


def test_wellbeing_settings_are_per_user(world: World) -> None:
    world.suspect(1)
    world.user("alice")
    world.user("bob")
    app = console_app(world)
    alice, csrf = browser(app, "alice")
    alice.get("/console/queue")
    saved = alice.post("/console/settings", data={"greyscale": "true", "csrf_token": csrf})
    assert saved.status_code == 303
    item_url = alice.get("/console/next").headers["location"]
    unblurred = Image.open(io.BytesIO(alice.get(f"{item_url}/image").content))
    assert unblurred.mode == "L"  # still greyscale, no longer blurred
    bob, _ = browser(app, "bob")
    page = bob.get("/console/settings").text
    assert 'name="blur" value="true" checked' in page


def test_the_root_is_the_console(world: World) -> None:
    client = TestClient(console_app(world), follow_redirects=False)
    assert client.get("/").headers["location"] == "/console/queue"
    assert client.get("/console/queue").headers["location"].startswith("/console/login")
