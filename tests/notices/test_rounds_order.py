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
from orbweaver.store.models import Notice, Outbox, Provider
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


def _rows(store: Store) -> list[Outbox]:
    with store.session() as s:
        rows = list(s.scalars(select(Outbox).order_by(Outbox.id)))
        s.expunge_all()
    return rows


def test_each_round_says_what_it_is_in_its_letter_and_report(
    store: Store, clock: SettableClock
) -> None:
    """Found by mutation testing: the first round carries the notice's own report_id, a
    follow-up is no escalation (no escalation tag, no "we notified" paragraph), and only the
    escalation names the provider notified before."""
    url = "http://imgsite.test/letters.jpg"
    att = _world(store, clock, [url])
    settings = _settings(escalate_after_rounds=2)
    transport = Recorder()
    with store.session() as s:
        plan_notices(s, clock, att, settings)
    _send(store, clock, settings, transport)
    for _ in range(2):
        clock.advance(DAY)
        with store.session() as s:
            schedule_rounds(s, clock, settings)
        _send(store, clock, settings, transport)
    with store.session() as s:
        report_id = s.scalars(select(Notice.report_id)).one()
    first, follow, escalation = _rows(store)
    assert [(r.kind, r.round) for r in (first, follow, escalation)] == [
        ("notice", 1),
        ("followup", 2),
        ("escalation", 1),
    ]
    assert first.xarf["report_id"] == report_id
    assert first.message_id == f"<{report_id}@hotline.test>"
    assert follow.xarf["report_id"] not in (report_id, escalation.xarf["report_id"])
    for row, round_tag in ((first, "orbweaver:round-1"), (follow, "orbweaver:round-2")):
        assert round_tag in row.xarf["tags"]
        assert not any("escalation" in t for t in row.xarf["tags"]), row.xarf["tags"]
        assert "We notified" not in row.body
    assert first.subject.startswith("Removal request:")
    assert follow.subject.startswith("Follow-up 1:")
    assert escalation.subject.startswith("Escalation:")
    assert {"orbweaver:escalation", "orbweaver:escalation-1"} <= set(escalation.xarf["tags"])
    assert "We notified ImgSite, who serves this content through your network" in (escalation.body)


def test_a_follow_up_falls_due_exactly_one_interval_after_the_send(
    store: Store, clock: SettableClock
) -> None:
    url = "http://imgsite.test/due.jpg"
    att = _world(store, clock, [url])
    settings = _settings(escalate_after_rounds=0)
    transport = Recorder()
    clock.set(
        (clock.now() + timedelta(days=1)).replace(hour=10, minute=30, second=15, microsecond=0)
    )
    with store.session() as s:
        plan_notices(s, clock, att, settings)
    _send(store, clock, settings, transport)
    sent_at = clock.now().replace(tzinfo=None)
    with store.session() as s:
        assert s.scalars(select(Notice.next_followup_at)).one() == sent_at + timedelta(hours=24)
    clock.set(clock.now() + timedelta(hours=24) - timedelta(microseconds=1))
    with store.session() as s:
        assert schedule_rounds(s, clock, settings) == 0  # not yet
    clock.set(clock.now() + timedelta(microseconds=1))  # exactly due
    with store.session() as s:
        assert schedule_rounds(s, clock, settings) == 1


def test_a_digest_provider_is_followed_up_at_the_start_of_a_day(
    store: Store, clock: SettableClock
) -> None:
    """A provider on a daily digest gets its follow-ups in a digest: due at midnight (UTC) of
    the day one interval later, not at the hour of the send."""
    url = "http://imgsite.test/digest.jpg"
    att = _world(store, clock, [url])
    settings = _settings(escalate_after_rounds=0)
    clock.set(
        (clock.now() + timedelta(days=1)).replace(hour=10, minute=30, second=15, microsecond=250)
    )
    with store.session() as s:
        site = s.scalars(select(Provider).where(Provider.name == "ImgSite")).one()
        site.digest = True
    with store.session() as s:
        plan_notices(s, clock, att, settings)
    with store.session() as s:
        row = s.scalars(select(Outbox)).one()
        assert row.status == "held"  # waits for the day's digest
        make_on_sent(settings)(s, clock, row)  # what the digest's send does for each member
        n = s.get_one(Notice, row.notice_id)
        tomorrow = (clock.now() + timedelta(days=1)).replace(tzinfo=None)
        assert n.next_followup_at == tomorrow.replace(hour=0, minute=0, second=0, microsecond=0)
        assert n.rounds_sent == 1


def test_an_escalation_missed_for_want_of_a_contact_goes_out_once_there_is_one(
    store: Store, clock: SettableClock
) -> None:
    """The host had no abuse contact when the escalation fell due: the follow-ups went on, and
    once the host has a contact the next round is the escalation (the rule is "at least N
    rounds sent", not "exactly N")."""
    url = "http://imgsite.test/late.jpg"
    att = _world(store, clock, [url])
    with store.session() as s:
        host = s.scalars(select(Provider).where(Provider.name == "BigHost")).one()
        host.abuse_email = None
    settings = _settings(escalate_after_rounds=2)
    transport = Recorder()
    with store.session() as s:
        plan_notices(s, clock, att, settings)
    _send(store, clock, settings, transport)
    for day in range(3):
        if day == 2:
            with store.session() as s:
                host = s.scalars(select(Provider).where(Provider.name == "BigHost")).one()
                host.abuse_email = "abuse@bighost.test"
        clock.advance(DAY)
        with store.session() as s:
            assert schedule_rounds(s, clock, settings) == 1
        _send(store, clock, settings, transport)
    assert [(k, r, to) for k, r, to in _sequence(store, transport.sent)[url]] == [
        ("notice", 1, "abuse@imgsite.test"),
        ("followup", 2, "abuse@imgsite.test"),
        ("followup", 3, "abuse@imgsite.test"),
        ("escalation", 1, "abuse@bighost.test"),
    ]


def test_a_digest_provider_followed_up_more_than_daily_keeps_the_hour(
    store: Store, clock: SettableClock
) -> None:
    """Rounding to the start of a day only applies to intervals of a day or more: a twelve-hour
    interval stays twelve hours, digest or not."""
    url = "http://imgsite.test/twice-daily.jpg"
    att = _world(store, clock, [url])
    settings = NoticeSettings(
        notice_from="n@hotline.test", notice_domain="hotline.test", followup_interval_hours=12
    )
    clock.set((clock.now() + timedelta(days=1)).replace(hour=10, minute=30, second=15))
    with store.session() as s:
        s.scalars(select(Provider).where(Provider.name == "ImgSite")).one().digest = True
    with store.session() as s:
        plan_notices(s, clock, att, settings)
    with store.session() as s:
        row = s.scalars(select(Outbox)).one()
        make_on_sent(settings)(s, clock, row)
        n = s.get_one(Notice, row.notice_id)
        assert n.next_followup_at == clock.now().replace(tzinfo=None) + timedelta(hours=12)


def test_nothing_new_is_planned_while_a_message_of_the_notice_is_in_flight(
    store: Store, clock: SettableClock
) -> None:
    """A follow-up falls due while the first message is still unsent (the relay is down):
    nothing is planned (and nothing counted) until it has gone."""
    url = "http://imgsite.test/in-flight.jpg"
    att = _world(store, clock, [url])
    settings = _settings(escalate_after_rounds=0)
    with store.session() as s:
        plan_notices(s, clock, att, settings)
        n = s.scalars(select(Notice)).one()
        n.first_sent_at = n.next_followup_at = clock.now().replace(tzinfo=None)  # as if sent
    clock.advance(DAY)
    with store.session() as s:
        assert schedule_rounds(s, clock, settings) == 0
        assert s.scalar(select(func.count()).select_from(Outbox)) == 1
    assert _send(store, clock, settings, Recorder()) == 1  # sent late: due a day after that
    clock.advance(DAY)
    with store.session() as s:
        assert schedule_rounds(s, clock, settings) == 1


def test_escalating_after_every_round(store: Store, clock: SettableClock) -> None:
    """`escalate_after_rounds=1`: each unanswered round is followed by one more step up."""
    url = "http://imgsite.test/every.jpg"
    att = _world(store, clock, [url])
    settings = _settings(escalate_after_rounds=1)
    transport = Recorder()
    with store.session() as s:
        plan_notices(s, clock, att, settings)
    _send(store, clock, settings, transport)
    for _ in range(3):
        clock.advance(DAY)
        with store.session() as s:
            schedule_rounds(s, clock, settings)
        _send(store, clock, settings, transport)
    assert [(k, r) for k, r, _ in _sequence(store, transport.sent)[url]] == [
        ("notice", 1),
        ("escalation", 1),
        ("followup", 2),
        ("escalation", 2),
    ]
