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


def test_signal_quality_controls_in_the_console_need_a_senior_and_a_reason(
    world: World,
) -> None:
    from orbweaver.banks.matcher import Matcher
    from orbweaver.store.models import AuditEntry

    create_bank(world.store, world.clock, "partner")
    body = f"pdq,{pdq_hex(7)},csam_prepubescent,hotline-x\n"
    import_csv(
        world.store,
        world.clock,
        "partner",
        io.StringIO("signal_type,signal,category,source\n" + body),
    )
    with world.store.session() as s:
        entry = s.scalar(sa.select(BankEntry.id))
    matcher = Matcher(world.store)
    matcher.refresh()
    assert matcher.match_pdq(pdq_hex(7)) != []
    world.user("ana")
    world.user("sen", "senior_analyst")
    ana, ana_csrf = browser(console_app(world), "ana")
    form = {"action": "disable", "entry_id": str(entry), "reason": "collides"}
    refused = ana.post("/console/banks/quality", data={**form, "csrf_token": ana_csrf})
    assert refused.status_code == 403
    sen, csrf = browser(console_app(world), "sen")
    no_reason = sen.post("/console/banks/quality", data={**form, "reason": "", "csrf_token": csrf})
    assert no_reason.status_code == 409
    done = sen.post("/console/banks/quality", data={**form, "csrf_token": csrf})
    assert done.status_code == 303
    matcher.refresh()
    assert matcher.match_pdq(pdq_hex(7)) == []
    page = sen.get("/console/banks").text
    assert f"<td>{entry}</td><td>partner</td>" in page and "switched off: collides" in page
    distance = sen.post(
        "/console/banks/quality",
        data={
            "action": "distance",
            "bank": "partner",
            "distance": "12",
            "reason": "too loose",
            "csrf_token": csrf,
        },
    )
    assert distance.status_code == 303
    release = sen.post(
        "/console/banks/quality",
        data={"action": "release", "entry_id": str(entry), "reason": "r", "csrf_token": csrf},
    )
    assert release.status_code == 409 and "not quarantined" in release.text
    with world.store.session() as s:
        actions = s.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert [a for a in actions if a.startswith("bank.")] == ["bank.disable", "bank.distance"]
