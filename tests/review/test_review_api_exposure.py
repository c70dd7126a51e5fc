"""Images fetched through the review API count against the analyst's daily exposure (issue 21,
survivor 8): each fetch, softened or revealed, is charged `review_api_view_seconds`, and the cap
then refuses more images over the API exactly as it does in the console."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from review_world import World
from web_helpers import api_key, console_app


def test_every_image_fetched_over_the_api_is_charged_until_the_cap_refuses(world: World) -> None:
    world.suspect(1)
    bob = world.user("bob")
    app = console_app(world)
    # the app's review service, with a cap of three API views of 40 s (120 s)
    service = world.service(review_exposure_cap_hours=120 / 3600, review_api_view_seconds=40)
    app.state.review = service
    auth = api_key(world, "bob")
    bot = TestClient(app)
    item = bot.get("/api/review/next", auth=auth).json()["item"]
    assert service.exposure_today(bob) == 0  # serving the item's facts shows no image

    assert bot.get(item["image_url"], auth=auth).status_code == 200
    assert service.exposure_today(bob) == 40
    assert bot.get(item["image_url"] + "?reveal=true", auth=auth).status_code == 200
    assert service.exposure_today(bob) == 80
    assert bot.get(item["image_url"], auth=auth).status_code == 200
    assert service.exposure_today(bob) == 120

    refused = bot.get(item["image_url"], auth=auth)
    assert refused.status_code == 403 and "exposure cap" in refused.text
    assert service.exposure_today(bob) == 120  # a refusal shows nothing and costs nothing

    world.clock.advance(timedelta(days=1))  # a new day: a fresh allowance
    assert bot.get(item["image_url"], auth=auth).status_code == 200
    assert service.exposure_today(bob) == 40
