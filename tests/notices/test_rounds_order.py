"""Rounds of a notice, pinned by the exact order of the messages sent (issue 21, survivors 6
and 7).

- With `escalate_after_rounds=2` each notice goes: notice 1, follow-up 2, escalation 1 (one step
  up the chain), follow-up 3, follow-up 4, escalation 2 (two steps up), follow-up 5. An
  escalation one round late (or early) changes the order though not the counts.
- No follow-up while the monitor is in a miss streak (it may be removal being confirmed); the
  follow-ups resume once the content is seen online again.
"""

from __future__ import annotations

from datetime import timedelta
from email.message import Message
from typing import Any

from sqlalchemy import func, select

from orbweaver.attribution import ChainLink
from orbweaver.clock import SettableClock
from orbweaver.notices import (
    NoticeSettings,
    deliver_due,
    make_on_sent,
    plan_notices,
    schedule_rounds,
)
from orbweaver.store import Store
from orbweaver.store.models import Notice, Outbox
from takedown.helpers import FixedAttributor, detect, provider

DAY = timedelta(hours=24, minutes=1)


class Recorder:
    """A transport that keeps, in order, the Message-ID of every email it is handed."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send_email(self, msg: Message) -> None:
        self.sent.append(str(msg["Message-ID"]))

    def post_webhook(self, url: str, report: dict[str, Any], idempotency_key: str) -> None:
        raise AssertionError("no webhook in this test")

    def close(self) -> None:
        pass


def _settings(**kw: Any) -> NoticeSettings:
    return NoticeSettings(
        notice_from="n@hotline.test", notice_domain="hotline.test", followup_interval_hours=24, **kw
    )


def _world(store: Store, clock: SettableClock, urls: list[str]) -> FixedAttributor:
    """Each URL on imgsite.test, whose chain is the site, its host, then the host's registrar."""
    now = clock.now().replace(tzinfo=None)
    with store.session() as s:
        links = [
            provider(s, now, name, email=f"abuse@{name.lower()}.test", service_type=role)
            for name, role in (
                ("ImgSite", "content_administrator"),
                ("BigHost", "hosting_provider"),
                ("Registrar", "registrar"),
            )
        ]
        for i, url in enumerate(urls):
            detect(s, now, url, seed=f"m{i}")
        chain = [ChainLink(p.service_type, p.id, p.name, p.abuse_email) for p in links]
    return FixedAttributor({"imgsite.test": chain}, {"imgsite.test": links[0].id})


def _send(store: Store, clock: SettableClock, settings: NoticeSettings, t: Recorder) -> int:
    return deliver_due(store, clock, t, settings, on_sent=make_on_sent(settings)).sent


def _sequence(store: Store, sent: list[str]) -> dict[str, list[tuple[str, int, str]]]:
    """Per notice URL, (kind, round, recipient) in the order the transport was handed them."""
    with store.session() as s:
        rows = {r.message_id: r for r in s.scalars(select(Outbox))}
        urls = {n.id: n.url for n in s.scalars(select(Notice))}
        out: dict[str, list[tuple[str, int, str]]] = {}
        for mid in sent:
            r = rows[mid]
            assert r.status == "sent" and r.notice_id is not None
            out.setdefault(urls[r.notice_id], []).append((r.kind, r.round, r.recipient))
    return out


def test_each_notice_escalates_exactly_after_every_second_unanswered_round(
    store: Store, clock: SettableClock
) -> None:
    urls = ["http://imgsite.test/a.jpg", "http://imgsite.test/b.jpg"]
    att = _world(store, clock, urls)
    settings = _settings(escalate_after_rounds=2)
    transport = Recorder()
    with store.session() as s:
        plan_notices(s, clock, att, settings)
    assert _send(store, clock, settings, transport) == 2
    for _ in range(6):
        clock.advance(DAY)
        with store.session() as s:
            assert schedule_rounds(s, clock, settings) == 2  # one message per notice a day
        assert _send(store, clock, settings, transport) == 2
    site, host, registrar = "abuse@imgsite.test", "abuse@bighost.test", "abuse@registrar.test"
    expected = [
        ("notice", 1, site),
        ("followup", 2, site),
        ("escalation", 1, host),
        ("followup", 3, site),
        ("followup", 4, site),
        ("escalation", 2, registrar),
        ("followup", 5, site),
    ]
    assert _sequence(store, transport.sent) == {url: expected for url in urls}
    with store.session() as s:
        for n in s.scalars(select(Notice)):
            assert (n.rounds_sent, n.escalation_level) == (5, 2)


def test_no_follow_up_during_a_miss_streak_and_they_resume_when_seen_online(
    store: Store, clock: SettableClock
) -> None:
    urls = ["http://imgsite.test/streak.jpg", "http://imgsite.test/online.jpg"]
    att = _world(store, clock, urls)
    settings = _settings(escalate_after_rounds=0)
    transport = Recorder()
    with store.session() as s:
        plan_notices(s, clock, att, settings)
    assert _send(store, clock, settings, transport) == 2
    clock.advance(timedelta(hours=20))
    with store.session() as s:  # the monitor misses the first URL: a streak begins
        n = s.scalars(select(Notice).where(Notice.url == urls[0])).one()
        n.miss_count, n.first_offline_at = 1, clock.now().replace(tzinfo=None)
    for _ in range(3):  # follow-ups fall due for both; only the one still online gets them
        clock.advance(DAY)
        with store.session() as s:
            assert schedule_rounds(s, clock, settings) == 1
        assert _send(store, clock, settings, transport) == 1
    seq = _sequence(store, transport.sent)
    assert [k for k, _, _ in seq[urls[0]]] == ["notice"]
    assert [(k, r) for k, r, _ in seq[urls[1]]] == [
        ("notice", 1),
        ("followup", 2),
        ("followup", 3),
        ("followup", 4),
    ]
    with store.session() as s:
        streak = s.scalars(select(Notice).where(Notice.url == urls[0])).one()
        unsent = select(func.count()).select_from(Outbox).where(Outbox.notice_id == streak.id)
        assert s.scalar(unsent) == 1  # nothing queued for it either
        streak.miss_count, streak.first_offline_at = 0, None  # seen online again
        streak.last_online_at = clock.now().replace(tzinfo=None)
    with store.session() as s:
        assert schedule_rounds(s, clock, settings) == 1  # the other is not due yet
    assert _send(store, clock, settings, transport) == 1
    seq = _sequence(store, transport.sent)
    assert [(k, r) for k, r, _ in seq[urls[0]]] == [("notice", 1), ("followup", 2)]
