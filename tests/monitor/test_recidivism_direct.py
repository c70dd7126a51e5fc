"""`RecidivismCheck.flag` called as the monitor's public surface offers it: without the items
(it reads them itself) and for a notice that has no provider (found by mutation testing: these
paths were only ever reached through planning, which always hands the items over).
"""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from orbweaver.attribution import ChainLink
from orbweaver.clock import SettableClock
from orbweaver.monitor import RecidivismCheck
from orbweaver.notices import NoticeSettings, plan_notices
from orbweaver.store import Store
from orbweaver.store.models import Detection, Notice, NoticeItem, Sighting
from takedown.helpers import FixedAttributor, bank, detect, media, provider

SETTINGS = NoticeSettings(notice_from="n@hotline.test", notice_domain="hotline.test")
P = hashlib.sha256(b"a synthetic PDQ, for recidivism").hexdigest()


def _attributor(store: Store, clock: SettableClock) -> tuple[FixedAttributor, int, int]:
    now = clock.now().replace(tzinfo=None)
    with store.session() as s:
        bank(s, now, threshold=20)
        a = provider(s, now, "HostA", email="abuse@a.test")
        b = provider(s, now, "HostB", email="abuse@b.test")
        chains = {
            host: [ChainLink("hosting_provider", p.id, p.name, p.abuse_email)]
            for host, p in (("a.test", a), ("b.test", b))
        }
        return FixedAttributor(chains, {"a.test": a.id, "b.test": b.id}), a.id, b.id


def _notice_by_hand(
    store: Store, clock: SettableClock, url: str, provider_id: int | None, pdq: str, seed: str
) -> int:
    """A notice with one item (a new file of PDQ `pdq`), made without planning."""
    now = clock.now().replace(tzinfo=None)
    with store.session() as s:
        m = media(s, now, seed, pdq=pdq)
        d = detect(s, now, url, m=m)
        n = Notice(
            url=url,
            kind="media",
            host=url.split("/")[2],
            provider_id=provider_id,
            report_id=hashlib.md5(url.encode()).hexdigest()[:32],
            category=d.category,
            status="open",
            created_at=now,
        )
        s.add(n)
        s.flush()
        s.add(NoticeItem(notice_id=n.id, detection_id=d.id, media_id=m.id, category=d.category))
        return n.id


def _flag(store: Store, clock: SettableClock, notice_id: int) -> int | None:
    with store.session() as s:
        return RecidivismCheck().flag(s, clock, s.get_one(Notice, notice_id))


def _first_notice(store: Store, clock: SettableClock, att: FixedAttributor) -> int:
    """A planned notice at provider A of a file with PDQ `P`, whose detection is its bank
    entry (the same file later matches the same entry)."""
    now = clock.now().replace(tzinfo=None)
    with store.session() as s:
        detect(s, now, "http://a.test/first.jpg", m=media(s, now, "first", pdq=P))
    with store.session() as s:
        plan_notices(s, clock, att, SETTINGS)
        return s.scalars(select(Notice.id).where(Notice.url == "http://a.test/first.jpg")).one()


def test_flag_reads_the_items_itself_when_not_given(store: Store, clock: SettableClock) -> None:
    att, a, b = _attributor(store, clock)
    first = _first_notice(store, clock, att)
    near = format(int(P, 16) ^ 0b111, "064x")  # 3 bits away: within the bank's 20
    again = _notice_by_hand(store, clock, "http://a.test/again.jpg", a, near, "again")
    elsewhere = _notice_by_hand(store, clock, "http://b.test/else.jpg", b, near, "else")
    far = _notice_by_hand(
        store, clock, "http://a.test/far.jpg", a, format(~int(P, 16) & (2**256 - 1), "064x"), "far"
    )
    assert _flag(store, clock, again) == first
    assert _flag(store, clock, elsewhere) is None
    assert _flag(store, clock, far) is None
    with store.session() as s:
        flagged = {n.id: n.recidivist_of_id for n in s.scalars(select(Notice)) if n.recidivist}
    assert flagged == {again: first}


def test_the_same_file_by_exact_identity_without_the_items_given(
    store: Store, clock: SettableClock
) -> None:
    """No PDQ at all: only the file's sha256 (or its bank entry) can link the notices."""
    att, a, _ = _attributor(store, clock)
    now = clock.now().replace(tzinfo=None)
    with store.session() as s:
        m = media(s, now, "no-pdq", pdq=None)
        m.pdq = None
        detect(s, now, "http://a.test/1.jpg", m=m)
        media_id = m.id
    with store.session() as s:
        plan_notices(s, clock, att, SETTINGS)
        first = s.scalars(select(Notice.id)).one()
    with store.session() as s:  # the same file again, at the same provider
        item = s.scalars(select(NoticeItem)).one()
        sighting = Sighting(
            media_id=media_id, url="http://a.test/2.jpg", host="a.test", seen_at=now
        )
        s.add(sighting)
        s.flush()
        old = s.get_one(Detection, item.detection_id)
        d = Detection(
            sighting_id=sighting.id,
            bank_entry_id=old.bank_entry_id,
            signal_type="sha256",
            category=old.category,
            detected_at=now,
        )
        s.add(d)
        n = Notice(
            url="http://a.test/2.jpg",
            kind="media",
            host="a.test",
            provider_id=a,
            report_id="2" * 32,
            category=old.category,
            status="open",
            created_at=now,
        )
        s.add(n)
        s.flush()
        s.add(NoticeItem(notice_id=n.id, detection_id=d.id, media_id=media_id, category=d.category))
        second = n.id
    assert _flag(store, clock, second) == first


def test_a_notice_without_a_provider_is_never_recidivist(
    store: Store, clock: SettableClock
) -> None:
    """With no provider there is no "same provider": the picture noticed to provider A before
    does not make a provider-less notice of it recidivist."""
    att, _, _ = _attributor(store, clock)
    _first_notice(store, clock, att)
    nobody = _notice_by_hand(store, clock, "http://c.test/x.jpg", None, P, "nobody")
    assert _flag(store, clock, nobody) is None
    with store.session() as s:
        assert s.get_one(Notice, nobody).recidivist is False


def test_files_without_a_pdq_then_with_one_in_the_same_pass(
    store: Store, clock: SettableClock
) -> None:
    """The pass's cache of a provider's PDQs takes only items that have one: files without a
    PDQ noticed first do not break the perceptual comparison of the files after them."""
    att, _, _ = _attributor(store, clock)
    now = clock.now().replace(tzinfo=None)
    with store.session() as s:
        for i in range(3):
            m = media(s, now, f"no-pdq-{i}", pdq=None)
            m.pdq = None
            detect(s, now, f"http://a.test/plain-{i}.jpg", m=m)
        detect(s, now, "http://a.test/p.jpg", m=media(s, now, "pdq-1", pdq=P))
        near = format(int(P, 16) ^ 0b1011, "064x")
        detect(s, now, "http://a.test/q.jpg", m=media(s, now, "pdq-2", pdq=near))
    with store.session() as s:
        stats = plan_notices(s, clock, att, SETTINGS)
    assert stats.recidivist == 1
    with store.session() as s:
        flagged = [(n.url, n.recidivist_of_id) for n in s.scalars(select(Notice)) if n.recidivist]
        first = s.scalars(select(Notice.id).where(Notice.url == "http://a.test/p.jpg")).one()
    assert flagged == [("http://a.test/q.jpg", first)]
