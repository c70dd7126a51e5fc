"""Each notice item keeps why it matched, for the internal record (issue 17): bank, entry id,
source, signal type and distance; held detections (a quarantined entry's) get no notice."""

from __future__ import annotations

from sqlalchemy import select

from orbweaver.attribution import ChainLink
from orbweaver.clock import SettableClock
from orbweaver.notices import NoticeSettings, plan_notices
from orbweaver.store import Store
from orbweaver.store.models import BankEntry, Detection, NoticeItem
from takedown.helpers import FixedAttributor, detect, provider


def _settings() -> NoticeSettings:
    return NoticeSettings(
        smtp_host="127.0.0.1", smtp_port=1, notice_from="n@h.test", notice_domain="h.test"
    )


def test_notice_items_carry_the_explanation_and_held_detections_wait(
    store: Store, clock: SettableClock
) -> None:
    now = clock.now().replace(tzinfo=None)
    with store.session() as s:
        site = provider(s, now, "ImgSite", email="abuse@imgsite.test")
        shown = detect(s, now, "http://imgsite.test/a.jpg", seed="a", distance=0)
        entry = s.get(BankEntry, shown.bank_entry_id)
        assert entry is not None
        entry.source = "partner-hotline"
        held = detect(s, now, "http://imgsite.test/b.jpg", seed="b")
        s.get_one(Detection, held.id).held = True
        shown_id, held_id, entry_id = shown.id, held.id, entry.id
    chain = [ChainLink("hosting_provider", site.id, site.name, site.abuse_email)]
    att = FixedAttributor({"imgsite.test": chain}, {"imgsite.test": site.id})
    with store.session() as s:
        plan_notices(s, clock, att, _settings())
    with store.session() as s:
        items = s.execute(select(NoticeItem.detection_id, NoticeItem.explanation)).all()
    assert [d for d, _ in items] == [shown_id]  # the held one waits
    ((_, explanation),) = items
    assert explanation["entry_id"] == entry_id
    assert explanation["source"] == "partner-hotline"
    assert (explanation["signal_type"], explanation["distance"]) == ("sha256", 0)
    assert explanation["bank_kind"] == "positive" and explanation["bank"]
    assert held_id not in [d for d, _ in items]
