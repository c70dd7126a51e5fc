"""Daily digests for providers who asked for batches: one message a UTC day listing every open
notice (new ones and follow-ups), one X-ARF part per notice, each valid; a second digest the
same day never goes out; the world's mail parser reads every report in it."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from orbweaver.attribution import ChainLink
from orbweaver.clock import SettableClock
from orbweaver.notices import (
    NoticeSettings,
    SmtpWebhookTransport,
    build_digests,
    deliver_due,
    make_on_sent,
    plan_notices,
    schedule_rounds,
    validation_errors,
)
from orbweaver.sim.behaviour import parse_round
from orbweaver.sim.notices import reports_from_mail
from orbweaver.store import Store
from orbweaver.store.models import Event, Notice, Outbox
from takedown.helpers import FixedAttributor, SmtpSink, detect, provider

XARF = Path(__file__).parents[1] / "data" / "xarf" / "schemas" / "v4"
URLS = ["http://batch.test/a.jpg", "http://batch.test/b.jpg", "http://batch.test/c.jpg"]


def _setup(store: Store, clock: SettableClock) -> FixedAttributor:
    now = clock.now().replace(tzinfo=None)
    with store.session() as s:
        p = provider(s, now, "BatchHost", email="abuse@batch.test")
        p.digest = True
        for url in URLS:
            detect(s, now, url)
        chain = [ChainLink("hosting_provider", p.id, p.name, p.abuse_email)]
    return FixedAttributor({"batch.test": chain}, {"batch.test": p.id})


def _deliver(store: Store, clock: SettableClock, settings: NoticeSettings) -> int:
    with SmtpWebhookTransport(settings) as t:
        return deliver_due(store, clock, t, settings, on_sent=make_on_sent(settings)).sent


def _digest(store: Store, clock: SettableClock, settings: NoticeSettings) -> int:
    with store.session() as s:
        return build_digests(s, clock, settings)


def _reports(raw: bytes) -> list[tuple[str, int]]:
    return [(r.url, parse_round(r.tags)[0]) for r in reports_from_mail(raw)]


def test_one_digest_a_day_lists_every_open_notice(store: Store, clock: SettableClock) -> None:
    att = _setup(store, clock)
    with SmtpSink() as sink:
        settings = NoticeSettings(
            smtp_host="127.0.0.1", smtp_port=sink.port, notice_domain="hotline.test"
        )
        with store.session() as s:
            assert plan_notices(s, clock, att, settings).enqueued == 3
        assert _deliver(store, clock, settings) == 0  # held for the digest
        assert _digest(store, clock, settings) == 1
        assert _digest(store, clock, settings) == 0  # one a day
        assert _deliver(store, clock, settings) == 1
        assert len(sink.messages) == 1
        first = sink.messages[0]
        parts = [p for p in first.walk() if p.get_content_type() == "application/json"]
        assert [p.get_filename() for p in parts] == ["xarf-1.json", "xarf-2.json", "xarf-3.json"]
        for part in parts:
            report = json.loads(bytes(part.get_payload(decode=True)))
            assert validation_errors(report, XARF) == []
        assert sorted(_reports(first.as_bytes())) == [(u, 1) for u in URLS]
        assert "3 removal request(s)" in str(first["Subject"])
        with store.session() as s:
            notices = s.scalars(select(Notice).order_by(Notice.id)).all()
            assert all(n.first_sent_at is not None and n.rounds_sent == 1 for n in notices)
            rows = s.scalars(select(Outbox).where(Outbox.kind == "notice")).all()
            assert {r.status for r in rows} == {"sent"}
            kinds = s.scalars(select(Event.kind)).all()
            assert kinds.count("notice.sent") == 3 and kinds.count("digest.sent") == 1
            # the next day: the one still online gets its follow-up in the next digest,
            # the one confirmed removed is dropped
            notices[1].status = "removed"
        clock.set(clock.now().replace(hour=0) + timedelta(days=1, minutes=1))
        with store.session() as s:
            assert schedule_rounds(s, clock, settings) == 2
        with store.session() as s:
            s.scalars(select(Notice).where(Notice.url == URLS[2])).one().status = "removed"
        assert _digest(store, clock, settings) == 1
        assert _deliver(store, clock, settings) == 1
        assert _reports(sink.messages[1].as_bytes()) == [(URLS[0], 2)]
        with store.session() as s:
            followups = s.execute(
                select(Notice.url, Outbox.status)
                .join(Notice, Notice.id == Outbox.notice_id)
                .where(Outbox.kind == "followup")
            ).all()
            assert sorted(followups) == [(URLS[0], "sent"), (URLS[2], "dropped")]
            assert s.scalars(select(Event.kind)).all().count("outbox.dropped") == 1


def test_a_digest_row_is_unique_per_provider_and_day(store: Store, clock: SettableClock) -> None:
    att = _setup(store, clock)
    settings = NoticeSettings(smtp_host="127.0.0.1", smtp_port=1, notice_domain="hotline.test")
    with store.session() as s:
        plan_notices(s, clock, att, settings)
    assert _digest(store, clock, settings) == 1
    with store.session() as s:  # a new detection later that day waits for tomorrow
        detect(s, clock.now().replace(tzinfo=None), "http://batch.test/d.jpg")
        plan_notices(s, clock, att, settings)
    assert _digest(store, clock, settings) == 0
    clock.advance(timedelta(days=1))
    assert _digest(store, clock, settings) == 1
    with store.session() as s:
        digests = s.scalars(select(Outbox).where(Outbox.kind == "digest")).all()
        assert [len(d.xarf["reports"]) for d in digests] == [3, 1]
        assert len({d.key for d in digests}) == 2
