"""The analyst's day in the console (issue 20), in-process: refusals are pages that keep the
analyst's place, the exposure cap protects the live page and refuses blind decisions, items
one may not act on offer nothing, skip / defer / unsure / notes, "my decisions", and the
organisation's wellbeing policy. The browser side is in test_console_browser.py."""

from __future__ import annotations

import io
from datetime import timedelta

import sqlalchemy as sa
from PIL import Image
from review_world import World
from web_helpers import browser, console_app

from orbweaver.review import Principal
from orbweaver.store.models import (
    Assessment,
    AuditEntry,
    Detection,
    Notice,
    NoticeItem,
    ReviewItem,
)


def items(world: World, n: int) -> None:
    for seed in range(1, n + 1):
        world.suspect(seed, f"host{seed}.example.test")


def first_item(client: object) -> int:
    location = client.get("/console/next").headers["location"]  # type: ignore[attr-defined]
    return int(location.split("/console/items/")[1].split("?")[0])


def dispute(world: World, a: Principal, b: Principal) -> int:
    """An item two analysts disagreed on: it awaits a senior."""
    service = world.service()
    service.sync()
    view = service.next_view(a)
    assert view is not None
    service.assess(a, view.id, "csam_prepubescent", None)
    service.assess(b, view.id, "not_actionable", None)
    return view.id


def test_a_refused_decision_is_shown_on_the_item_page(world: World) -> None:
    items(world, 2)
    world.user("alice")
    alice, csrf = browser(console_app(world), "alice")
    item = first_item(alice)
    answer = alice.post(
        f"/console/items/{item}/assess",
        data={"category": "not_actionable", "severity": "sex_act", "csrf_token": csrf},
    )
    assert answer.status_code == 409
    assert answer.headers["content-type"].startswith("text/html")
    assert "a severity applies only to the two CSAM categories" in answer.text
    assert 'id="decide"' in answer.text and f"Item {item}" in answer.text  # still on the item

    ok = alice.post(
        f"/console/items/{item}/assess", data={"category": "not_actionable", "csrf_token": csrf}
    )
    assert ok.status_code == 303
    again = alice.post(
        f"/console/items/{item}/assess", data={"category": "not_actionable", "csrf_token": csrf}
    )
    assert again.status_code == 403 and "already assessed" in again.text
    assert 'id="decide"' not in again.text  # the page no longer offers what was refused
    assert "You said: <strong>not actionable</strong>" in again.text


def test_a_role_refusal_is_a_page_with_a_way_back(world: World) -> None:
    world.user("alice")
    alice, csrf = browser(console_app(world), "alice")
    page = alice.get("/console/adjudication")
    assert page.status_code == 403 and page.headers["content-type"].startswith("text/html")
    assert "needs the senior_analyst role" in page.text and 'href="/console/queue"' in page.text
    assert "Adjudication</a>" not in page.text  # nor offered in the navigation
    missing = alice.post("/console/items/999/assess", data={"csrf_token": csrf})
    assert missing.status_code == 422 and "category" in missing.text
    assert 'href="/console/items/999"' in missing.text
    assert alice.get("/api/review/next").headers["content-type"] == "application/json"


def test_an_analyst_on_a_disputed_item_is_offered_nothing(world: World) -> None:
    items(world, 1)
    a, b = world.user("ana"), world.user("ben")
    item = dispute(world, a, b)
    world.user("cleo")
    cleo, csrf = browser(console_app(world), "cleo")
    page = cleo.get(f"/console/items/{item}")
    assert page.status_code == 200
    assert "<img" not in page.text and 'id="decide"' not in page.text
    assert 'id="reveal"' not in page.text and "Awaiting a senior analyst" in page.text
    reveal = cleo.post(f"/console/items/{item}/reveal", headers={"X-CSRF-Token": csrf})
    assert reveal.status_code == 403 and "not yours" in reveal.text


def test_the_cap_takes_the_image_off_the_live_page(world: World) -> None:
    items(world, 1)
    world.user("alice")
    app = console_app(world, review_exposure_cap_hours=30 / 3600, review_heartbeat_seconds=15)
    alice, csrf = browser(app, "alice")
    first_item(alice)
    beat = alice.post("/console/exposure", headers={"X-CSRF-Token": csrf})
    assert "0 min 15 s of 0 min today" in beat.text and "hx-swap-oob" not in beat.text
    beat = alice.post("/console/exposure", headers={"X-CSRF-Token": csrf})
    assert "daily cap reached" in beat.text
    assert '<div id="media" class="media" hx-swap-oob="true">' in beat.text
    assert '<div id="reveal-box" hx-swap-oob="true"></div>' in beat.text


def test_past_the_cap_a_decision_needs_the_image_seen_before(world: World) -> None:
    items(world, 2)
    world.user("alice")
    app = console_app(world, review_exposure_cap_hours=15 / 3600, review_heartbeat_seconds=15)
    alice, csrf = browser(app, "alice")
    seen = first_item(alice)
    assert alice.get(f"/console/items/{seen}/image").status_code == 200
    alice.post(f"/console/items/{seen}/pass", data={"defer": "true", "csrf_token": csrf})
    alice.post("/console/exposure", headers={"X-CSRF-Token": csrf})  # the cap is reached
    blind = first_item(alice)
    assert blind != seen
    page = alice.get(f"/console/items/{blind}")
    assert 'id="decide"' not in page.text and "cannot be decided without seeing it" in page.text
    answer = alice.post(
        f"/console/items/{blind}/assess",
        data={"category": "csam_prepubescent", "csrf_token": csrf},
    )
    assert answer.status_code == 403 and "not seen this image" in answer.text
    ok = alice.post(
        f"/console/items/{seen}/assess", data={"category": "not_actionable", "csrf_token": csrf}
    )
    assert ok.status_code == 303  # seen before the cap: may still be decided
    with world.store.session() as s:
        assert s.scalars(sa.select(Assessment.item_id)).all() == [seen]


def test_next_moves_on_skip_defer_unsure_and_notes(world: World) -> None:
    items(world, 3)
    world.user("alice")
    world.user("bob")
    app = console_app(world, review_defer_minutes=5)
    alice, csrf = browser(app, "alice")
    first = first_item(alice)
    assert first_item(alice) == first  # claimed for her: "next" alone serves it again
    alice.post(f"/console/items/{first}/pass", data={"defer": "true", "csrf_token": csrf})
    second = first_item(alice)
    assert second != first
    alice.post(f"/console/items/{second}/pass", data={"csrf_token": csrf})
    third = first_item(alice)
    assert third not in (first, second)

    bob, _ = browser(app, "bob")
    assert first_item(bob) == first  # skipping and deferring are Alice's own

    note = alice.post(
        f"/console/items/{third}/note", data={"note": "watermark: see board", "csrf_token": csrf}
    )
    assert note.status_code == 303
    empty = alice.post(f"/console/items/{third}/note", data={"note": " ", "csrf_token": csrf})
    assert empty.status_code == 409 and "a note needs some text" in empty.text
    up = alice.post(
        f"/console/items/{third}/escalate", data={"note": "unsure of age", "csrf_token": csrf}
    )
    assert up.status_code == 303
    page = alice.get(f"/console/items/{third}").text
    assert "watermark: see board" in page and "(sent to a senior): unsure of age" in page
    with world.store.session() as s:
        assert s.get_one(ReviewItem, third).status == "adjudication"
        actions = set(s.scalars(sa.select(AuditEntry.action)))
    assert {"item.deferred", "item.skipped", "item.note", "item.escalated"} <= actions

    world.clock.advance(timedelta(minutes=11))  # the deferral ends (Bob's claim too)
    assert first_item(alice) == first
    bob.post(f"/console/items/{first}/assess", data={"category": "not_actionable"})


def test_a_senior_next_goes_to_the_next_disputed_item(world: World) -> None:
    items(world, 2)
    a, b = world.user("ana"), world.user("ben")
    one = dispute(world, a, b)
    two = dispute(world, a, b)
    world.user("sam", "senior_analyst")
    sam, csrf = browser(console_app(world), "sam")
    assert sam.get(f"/console/adjudication/next?after={one}").headers["location"] == (
        f"/console/items/{two}"
    )
    done = sam.post(
        f"/console/items/{one}/adjudicate",
        data={"category": "not_actionable", "csrf_token": csrf},
    )
    assert done.headers["location"] == f"/console/adjudication/next?done={one}"
    assert sam.get(done.headers["location"]).headers["location"] == f"/console/items/{two}"


def test_my_decisions_link_to_their_notices(world: World) -> None:
    items(world, 2)
    world.user("alice")
    world.user("bob")
    app = console_app(world)
    alice, csrf = browser(app, "alice")
    bob, bob_csrf = browser(app, "bob")
    item = first_item(alice)
    for client, token in ((alice, csrf), (bob, bob_csrf)):
        client.post(
            f"/console/items/{item}/assess",
            data={"category": "csam_prepubescent", "csrf_token": token},
        )
    with world.store.session() as s:
        detection = s.scalars(sa.select(Detection)).first()
        assert detection is not None
        notice = Notice(
            url="http://host1.example.test/x.png",
            host="host1.example.test",
            report_id="r-1",
            category="csam_prepubescent",
            created_at=world.clock.now(),
        )
        s.add(notice)
        s.flush()
        media_id = s.get_one(ReviewItem, item).media_id
        s.add(
            NoticeItem(
                notice_id=notice.id,
                detection_id=detection.id,
                media_id=media_id,
                category="csam_prepubescent",
            )
        )
        notice_id = notice.id
    page = alice.get("/console/decisions").text
    assert f'href="/console/items/{item}"' in page
    assert "decided: child sexual abuse material (pre-pubescent)" in page
    assert f'href="/console/notices/{notice_id}"' in page
    decided = alice.get(f"/console/items/{item}").text
    assert "still online" not in decided and f"notice {notice_id}" in decided
    assert "csam_prepubescent" not in decided.replace('value="csam_prepubescent"', "")


def test_the_organisation_policy_overrides_a_user_turning_blur_off(world: World) -> None:
    items(world, 1)
    world.user("alice")
    plain = console_app(world)
    alice, csrf = browser(plain, "alice")
    alice.post("/console/settings", data={"shortcuts": "true", "csrf_token": csrf})
    item = first_item(alice)
    unsoftened = alice.get(f"/console/items/{item}/image").content
    assert Image.open(io.BytesIO(unsoftened)).mode == "RGB"

    policed = console_app(world, review_policy_blur=True, review_policy_greyscale=True)
    alice2, _ = browser(policed, "alice")
    softened = Image.open(io.BytesIO(alice2.get(f"/console/items/{item}/image").content))
    assert softened.mode == "L"
    settings = alice2.get("/console/settings").text
    assert settings.count("required by your organisation's policy") == 2


def test_shortcuts_can_be_turned_off_and_breaks_are_reminded(world: World) -> None:
    items(world, 1)
    world.user("alice")
    app = console_app(world, review_break_minutes=0.25, review_heartbeat_seconds=15)
    alice, csrf = browser(app, "alice")
    item = first_item(alice)
    assert 'data-shortcuts="on"' in alice.get(f"/console/items/{item}").text
    alice.post("/console/settings", data={"blur": "true", "csrf_token": csrf})
    page = alice.get(f"/console/items/{item}").text
    assert 'data-shortcuts="off"' in page and "Keys:" not in page
    beat = alice.post("/console/exposure", headers={"X-CSRF-Token": csrf})
    assert "Time for a short break" in beat.text
