"""A retroactive match on an item's media shows on its page, explained (issue 17)."""

from __future__ import annotations

import io

import sqlalchemy as sa
from review_world import World, pdq_hex
from web_helpers import browser, console_app

from orbweaver.banks import create_bank, import_csv, match_new_entries
from orbweaver.store.models import BankEntry, Detection


def test_a_retroactive_match_is_explained_on_the_item_page(world: World) -> None:
    world.suspect(1, "host1.example.test")
    world.service().sync()
    create_bank(world.store, world.clock, "partner")
    body = f"pdq,{pdq_hex(1, flips=4)},csam_prepubescent,hotline-x\n"
    report = import_csv(
        world.store,
        world.clock,
        "partner",
        io.StringIO("signal_type,signal,category,source\n" + body),
    )
    found = match_new_entries(world.store, world.clock, after_entry=report.after_entry)
    assert (found.entries, found.media, found.detections) == (1, 1, 1)
    with world.store.session() as s:
        entry = s.scalar(sa.select(BankEntry.id))
        assert s.scalar(sa.select(Detection.distance)) == 4
    world.user("alice")
    alice, _ = browser(console_app(world), "alice")
    location = alice.get("/console/next").headers["location"]
    page = alice.get(location).text
    assert "<h2>Matches</h2>" in page
    assert f"bank partner · entry {entry} · pdq at 4 · source hotline-x" in page
    # run again: nothing new (the pair is already a detection)
    again = match_new_entries(world.store, world.clock, after_entry=report.after_entry)
    assert again.detections == 0 and again.media == 1
