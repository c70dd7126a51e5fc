"""Delivery survives outages and bad rows: a transient failure is retried for an age (72 h by
default), not a count; then it is surfaced as failed, with one alert line and an event, and
`notices retry` queues it again; a row that fails for a permanent reason fails alone."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from orbweaver.attribution.types import ChainLink
from orbweaver.clock import SettableClock
from orbweaver.notices.gate import Gate, Verdict
from orbweaver.notices.outbox import (
    NewMessage,
    backoff_delay,
    claim_due,
    deliver_due,
    enqueue,
    release_claims,
    requeue_failed,
)
from orbweaver.notices.runner import notify_pass
from orbweaver.notices.settings import NoticeSettings
from orbweaver.notices.transport import SmtpWebhookTransport
from orbweaver.store import Store
from orbweaver.store.models import Event, Notice, Outbox, Provider
from takedown.helpers import FixedAttributor, SmtpSink, detect, provider

HOSTS = ("one.test", "two.test", "three.test")


def _settings(port: int, **kw: Any) -> NoticeSettings:
    """The delivery settings as shipped: only where the relay is and who we are."""
    return NoticeSettings(
        smtp_host="127.0.0.1",
        smtp_port=port,
        notice_from="n@hotline.test",
        notice_domain="hotline.test",
        **kw,
    )


def _world(
    store: Store, clock: SettableClock, emails: dict[str, str] | None = None
) -> FixedAttributor:
    """One provider and one detection per host, in HOSTS order."""
    now = clock.now().replace(tzinfo=None)
    chains, recipient = {}, {}
    with store.session() as s:
        for i, host in enumerate(HOSTS):
            email = (emails or {}).get(host, f"abuse@{host}")
            p = provider(s, now, f"Host {i}", email=email)
            detect(s, now, f"http://{host}/a.jpg", seed=host)
            chains[host] = [ChainLink("hosting_provider", p.id, p.name, p.abuse_email)]
            recipient[host] = p.id
    return FixedAttributor(chains, recipient)


def _pass(
    store: Store, clock: SettableClock, att: FixedAttributor, settings: NoticeSettings
) -> Any:
    with SmtpWebhookTransport(settings) as t:
        return notify_pass(store, clock, att, settings, t)


def _statuses(store: Store) -> list[str]:
    with store.session() as s:
        return list(s.scalars(select(Outbox.status).order_by(Outbox.id)))


def _first_sent(store: Store) -> list[bool]:
    with store.session() as s:
        return [n.first_sent_at is not None for n in s.scalars(select(Notice).order_by(Notice.id))]


def test_a_six_hour_smtp_outage_loses_no_first_notice(store: Store, clock: SettableClock) -> None:
    """Main gave up after 6 attempts (about 31 minutes): first notices failed for good."""
    att = _world(store, clock)
    sink = SmtpSink()  # its port is chosen, nothing listens there until it starts
    settings = _settings(sink.port)
    end = clock.now() + timedelta(hours=6)
    attempts = 0
    while clock.now() < end:
        stats = _pass(store, clock, att, settings).delivery
        assert stats.sent == 0 and stats.failed == 0, stats.errors
        attempts += stats.retried
        clock.advance(timedelta(minutes=10))
    assert attempts > 3 * 6  # it kept trying, past the old count
    assert set(_statuses(store)) == {"pending"}
    with sink:
        clock.advance(timedelta(seconds=settings.delivery_backoff_max_s))
        stats = _pass(store, clock, att, settings).delivery
        assert stats.sent == 3 and stats.failed == 0
        assert sorted(str(m["To"]) for m in sink.messages) == sorted(f"abuse@{h}" for h in HOSTS)
    assert _first_sent(store) == [True, True, True]  # so monitoring and follow-ups start


def test_a_row_fails_once_exactly_its_retry_age_has_passed(
    store: Store, clock: SettableClock
) -> None:
    att = _world(store, clock)
    settings = _settings(SmtpSink().port, delivery_retry_hours=1)  # nothing listens there
    first = _pass(store, clock, att, settings).delivery
    assert (first.retried, first.failed) == (3, 0)
    clock.advance(timedelta(hours=1))  # due again long before; the age is now exactly 1 h
    again = _pass(store, clock, att, settings).delivery
    assert (again.retried, again.failed) == (0, 3)


def test_backoff_doubles_up_to_its_cap() -> None:
    settings = _settings(25, delivery_backoff_s=60, delivery_backoff_max_s=3600)
    # Never below the base, even asked before any attempt.
    assert [backoff_delay(settings, n) for n in (0, 1, 2, 3, 6, 7, 50, 10_000)] == [
        60,
        60,
        120,
        240,
        1920,
        3600,
        3600,
        3600,
    ]


def test_past_the_retry_age_a_row_fails_with_one_alert_and_retry_brings_it_back(
    store: Store, clock: SettableClock, caplog: pytest.LogCaptureFixture
) -> None:
    att = _world(store, clock)
    sink = SmtpSink()
    settings = _settings(sink.port)  # the default 72 h
    start = clock.now()
    caplog.set_level(logging.ERROR, logger="orbweaver.notices.outbox")
    failed_at = None
    while failed_at is None:
        stats = _pass(store, clock, att, settings).delivery
        if stats.failed:
            failed_at = clock.now()
        clock.advance(timedelta(minutes=30))
    assert timedelta(hours=72) <= failed_at - start <= timedelta(hours=73)
    assert stats.failed == 3 and set(_statuses(store)) == {"failed"}
    alerts = [r.getMessage() for r in caplog.records if "ALERT" in r.getMessage()]
    assert len(alerts) == 3 and all("orbweaver notices retry" in a for a in alerts)
    with store.session() as s:
        rows = s.scalars(select(Outbox).order_by(Outbox.id)).all()
        ids = [r.id for r in rows]
        assert all(r.last_error for r in rows)
        failed = s.scalars(select(Event).where(Event.kind == "outbox.failed")).all()
        assert sorted(e.payload["outbox_id"] for e in failed) == ids
    assert _pass(store, clock, att, settings).delivery.retried == 0  # failed rows stay put

    with sink:
        assert requeue_failed(store, clock, [ids[1]], actor="tester") == [ids[1]]
        assert _pass(store, clock, att, settings).delivery.sent == 1
        assert _statuses(store) == ["failed", "sent", "failed"]
        assert requeue_failed(store, clock) == [ids[0], ids[2]]
        assert _pass(store, clock, att, settings).delivery.sent == 2
    assert _first_sent(store) == [True, True, True]
    with store.session() as s:
        audit = s.scalars(select(Event).where(Event.kind == "outbox.requeued")).all()
        assert [(e.subject_id, e.actor) for e in audit] == [
            (ids[1], "tester"),
            (ids[0], "operator"),
            (ids[2], "operator"),
        ]
        assert all(e.payload["error"] for e in audit)


def test_a_requeued_row_gets_a_fresh_retry_age(store: Store, clock: SettableClock) -> None:
    att = _world(store, clock)
    settings = _settings(SmtpSink().port, delivery_retry_hours=1)
    for _ in range(8):
        _pass(store, clock, att, settings)
        clock.advance(timedelta(minutes=15))
    assert set(_statuses(store)) == {"failed"}
    requeue_failed(store, clock)
    stats = _pass(store, clock, att, settings).delivery  # still down, but just queued again
    assert stats.retried == 3 and stats.failed == 0


def test_retry_command(
    sqlite_store: Store, clock: SettableClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orbweaver.cli import app
    from orbweaver.config import get_settings

    att = _world(sqlite_store, clock)
    settings = _settings(SmtpSink().port, delivery_max_attempts=1)
    _pass(sqlite_store, clock, att, settings)
    ids = [i for i, status in enumerate(_statuses(sqlite_store), 1) if status == "failed"]
    assert len(ids) == 3
    monkeypatch.setenv("ORBWEAVER_DATABASE_URL", sqlite_store.url)
    monkeypatch.delenv("ORBWEAVER_CLOCK_URL", raising=False)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        assert runner.invoke(app, ["notices", "retry"]).exit_code == 2  # says which
        result = runner.invoke(app, ["notices", "retry", str(ids[0])])
        assert result.exit_code == 0, result.output
        assert f"queued again: {ids[0]}" in result.stdout
        assert _statuses(sqlite_store) == ["pending", "failed", "failed"]
        result = runner.invoke(app, ["notices", "retry", "999"])
        assert result.exit_code == 1 and "999" in result.stderr
        result = runner.invoke(app, ["notices", "retry", "--all-failed"])
        assert result.exit_code == 0 and f"{ids[1]}, {ids[2]}" in result.stdout
        assert set(_statuses(sqlite_store)) == {"pending"}
    finally:
        get_settings.cache_clear()
    with sqlite_store.session() as s:
        audit = s.scalars(select(Event).where(Event.kind == "outbox.requeued")).all()
        assert len(audit) == 3 and all(e.actor.startswith("cli:") for e in audit)


# -- one bad row never blocks the others -------------------------------------------------------


def _message(key: str, recipient: str, subject: str = "Removal request", **kw: Any) -> NewMessage:
    return NewMessage(
        key=key,
        notice_id=None,
        provider_id=kw.pop("provider_id"),
        kind=kw.pop("kind", "notice"),
        round=1,
        channel="smtp",
        recipient=recipient,
        subject=subject,
        body="body\n",
        xarf=kw.pop("xarf", {"report_id": key}),
        message_id=f"<{key}@hotline.test>",
    )


def test_released_claims_are_due_at_once_and_logged(
    store: Store, clock: SettableClock, caplog: pytest.LogCaptureFixture
) -> None:
    now = clock.now().replace(tzinfo=None)
    with store.session() as s:
        pid = provider(s, now, "Any", email="abuse@any.test").id
        for key in ("one", "two"):
            enqueue(s, clock, _message(key, "abuse@any.test", provider_id=pid))
    settings = _settings(25)
    claimed = claim_due(store, clock, settings, 10)
    assert len(claimed) == 2 and claim_due(store, clock, settings, 10) == []  # leased
    with caplog.at_level(logging.INFO, logger="orbweaver.notices.outbox"):
        assert release_claims(store, clock, claimed) == 2
        assert release_claims(store, clock, claimed) == 0  # pending again: nothing to hand back
        assert release_claims(store, clock, []) == 0
    handed = [r.getMessage() for r in caplog.records if "handed back" in r.getMessage()]
    assert handed == ["handed back 2 claimed message(s) unsent (stopping)"]
    assert sorted(claim_due(store, clock, settings, 10)) == sorted(claimed)  # no lease to wait
    with store.session() as s:  # none was `sending`: no resend of uncertain outcome
        assert s.scalars(select(Event).where(Event.kind == "outbox.uncertain_resend")).all() == []


def test_a_row_the_gate_defers_is_counted_and_the_rest_of_the_batch_goes(
    store: Store, clock: SettableClock
) -> None:
    now = clock.now().replace(tzinfo=None)
    with store.session() as s:
        pid = provider(s, now, "Any", email="abuse@any.test").id
        rows = [enqueue(s, clock, _message(k, f"abuse@{k}.test", provider_id=pid)) for k in "ab"]
        deferred = rows[0].id if rows[0] else -1

    class DeferTheFirst:
        def admit(self, store: Store, clock: SettableClock, row_id: int) -> Verdict:
            return Verdict.DEFERRED if row_id == deferred else Verdict.GO

    with SmtpSink() as sink:
        settings = _settings(sink.port)
        with SmtpWebhookTransport(settings) as t:
            stats = deliver_due(store, clock, t, settings, gate=cast(Gate, DeferTheFirst()))
        assert (stats.deferred, stats.sent) == (1, 1)
        assert [str(m["To"]) for m in sink.messages] == ["abuse@b.test"]


BAD_ROWS = {
    "CR/LF recipient": {"recipient": "abuse@bad.test\r\nBcc: someone@else.test"},
    # digest_letter now writes a provider name on one line (tests/hostile/test_hostile_notices.py
    # and the hostile corpus); a subject that still carries a line break, from any source, is
    # refused by the transport and fails alone.
    "CR/LF subject (digest)": {
        "subject": "Daily digest for Bad\r\nBcc: someone@else.test",
        "kind": "digest",
        "xarf": {"reports": [], "orbweaver_outbox_ids": []},
    },
    "an address list": {"recipient": "abuse@bad.test, someone@else.test"},
}


@pytest.mark.parametrize("bad", list(BAD_ROWS))
def test_a_malformed_row_fails_alone_between_two_good_ones(
    store: Store, clock: SettableClock, bad: str, caplog: pytest.LogCaptureFixture
) -> None:
    now = clock.now().replace(tzinfo=None)
    with store.session() as s:
        pid = provider(s, now, "Any", email="abuse@any.test").id
        spec = {"recipient": "abuse@bad.test", **BAD_ROWS[bad]}
        for key, fields in (
            ("good-1", {"recipient": "abuse@one.test"}),
            ("bad", spec),
            ("good-2", {"recipient": "abuse@two.test"}),
        ):
            enqueue(s, clock, _message(key, provider_id=pid, **fields))
    with SmtpSink() as sink:
        settings = _settings(sink.port)
        with SmtpWebhookTransport(settings) as t:
            stats = deliver_due(store, clock, t, settings)  # one pass
        assert stats.sent == 2 and stats.failed == 1 and stats.retried == 0
        assert sorted(str(m["To"]) for m in sink.messages) == ["abuse@one.test", "abuse@two.test"]
        assert not any("else.test" in str(m) for m in sink.messages)
    assert _statuses(store) == ["sent", "failed", "sent"]
    alerts = [r.getMessage() for r in caplog.records if r.getMessage().startswith("ALERT")]
    assert len(alerts) == 1 and "permanent error" in alerts[0]
    with store.session() as s:
        row = s.scalars(select(Outbox).where(Outbox.key == "bad")).one()
        assert row.last_error and "composing" in row.last_error
        event = s.scalars(select(Event).where(Event.kind == "outbox.failed")).one()
        assert event.payload["permanent"] is True and event.payload["outbox_id"] == row.id


def test_a_stored_bad_contact_fails_its_notice_alone_in_a_notify_pass(
    store: Store, clock: SettableClock
) -> None:
    """A contact stored before contacts were checked: the pass still sends the others."""
    att = _world(store, clock, {"two.test": "abuse@two.test\nBcc: x@else.test"})
    with SmtpSink() as sink:
        stats = _pass(store, clock, att, _settings(sink.port)).delivery
        assert stats.sent == 2 and stats.failed == 1
        assert len(sink.messages) == 2
    assert _statuses(store) == ["sent", "failed", "sent"]
    assert _first_sent(store) == [True, False, True]


class _Exploding(SmtpWebhookTransport):
    """A transport that raises something that is not a DeliveryError for one recipient."""

    closed = 0

    def send_email(self, msg: Any) -> None:
        if "boom" in str(msg["To"]):
            raise RuntimeError("the library failed half-way")
        super().send_email(msg)

    def close(self) -> None:
        type(self).closed += 1
        super().close()


def test_an_unexpected_transport_error_is_permanent_for_that_row_only(
    store: Store, clock: SettableClock
) -> None:
    att = _world(store, clock, {"one.test": "boom@one.test"})
    with SmtpSink() as sink:
        settings = _settings(sink.port)
        with _Exploding(settings) as t:
            stats = deliver_after_plan(store, clock, att, settings, t)
        assert stats.sent == 2 and stats.failed == 1 and len(sink.messages) == 2
    assert _Exploding.closed >= 2  # the connection was reset after the error, then closed
    with store.session() as s:
        row = s.scalars(select(Outbox).where(Outbox.status == "failed")).one()
        assert row.recipient == "boom@one.test"
        assert row.last_error == "sending: RuntimeError: the library failed half-way"


def deliver_after_plan(
    store: Store, clock: SettableClock, att: FixedAttributor, settings: NoticeSettings, t: Any
) -> Any:
    return notify_pass(store, clock, att, settings, t).delivery


def test_the_toml_retry_age_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "orbweaver.toml"
    path.write_text("[notices]\ndelivery_retry_hours = 24\ndelivery_backoff_max_s = 600\n")
    monkeypatch.setenv("ORBWEAVER_CONFIG", str(path))
    settings = NoticeSettings()
    assert settings.delivery_retry_hours == 24 and backoff_delay(settings, 20) == 600


def test_a_failed_digest_comes_back_with_its_members(store: Store, clock: SettableClock) -> None:
    """Asking for a member of a failed digest queues the digest again, members and all."""
    att = _world(store, clock)
    with store.session() as s:
        for p in s.scalars(select(Provider)):
            p.digest = True
    with SmtpSink() as sink:
        sink.handler.refuse.update(f"abuse@{h}" for h in HOSTS)  # 550: fails at once
        settings = _settings(sink.port)
        stats = _pass(store, clock, att, settings).delivery
        assert stats.failed == 3 and stats.sent == 0  # three digests, one per provider
        with store.session() as s:
            rows = s.scalars(select(Outbox).order_by(Outbox.id)).all()
            members = [r.id for r in rows if r.kind == "notice"]
            digests = [r.id for r in rows if r.kind == "digest"]
            assert {r.status for r in rows} == {"failed"} and len(members) == 3
        sink.handler.refuse.clear()
        assert requeue_failed(store, clock, [members[0]]) == [digests[0]]
        with store.session() as s:
            assert s.get_one(Outbox, members[0]).status == "batched"
        assert _pass(store, clock, att, settings).delivery.sent == 1
        assert len(sink.messages) == 1
    with store.session() as s:
        assert s.get_one(Outbox, members[0]).status == "sent"
    assert _first_sent(store) == [True, False, False]
