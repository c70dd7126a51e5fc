"""Notices: X-ARF composition and validation, planning, outbox delivery, follow-ups, escalation."""

from __future__ import annotations

import ipaddress
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from orbweaver.attribution import ChainLink
from orbweaver.clock import SettableClock
from orbweaver.net import GuardedClient, NetworkPolicy, Resolver
from orbweaver.notices import (
    NoticeSettings,
    SmtpWebhookTransport,
    deliver_due,
    make_on_sent,
    plan_notices,
    schedule_rounds,
)
from orbweaver.notices.xarf import (
    Contact,
    ItemHashes,
    ReportInput,
    classification,
    compose_report,
    validation_errors,
)
from orbweaver.store import Store
from orbweaver.store.models import Event, Notice, NoticeItem, Outbox
from takedown.helpers import FixedAttributor, SmtpSink, detect, provider

XARF = Path(__file__).parents[1] / "data" / "xarf" / "schemas" / "v4"


def _input(category: str, kind: str = "media", n: int = 1) -> ReportInput:
    items = [
        ItemHashes(
            "a" * 64,
            "b" * 40,
            "c" * 32,
            "d" * 64,
            category,
            member_path=f"dir/{i}.jpg" if kind == "archive" else None,
        )
        for i in range(n)
    ]
    clock = SettableClock()
    return ReportInput(
        report_id="b7ca7591-811e-4d40-83d9-dc043c08555d",
        url="http://img.example.test/x.jpg",
        host="img.example.test",
        kind=kind,
        category=category,
        items=items,
        first_seen=clock.now(),
        last_seen=clock.now(),
        reporter=Contact("Hotline", "notices@hotline.test", "hotline.test"),
        source_identifier="img.example.test",
        round=2,
        escalation_level=1,
        notice_id=7,
    )


@pytest.mark.parametrize("category", ["csam_prepubescent", "csam_postpubescent", "harmful_abusive"])
@pytest.mark.parametrize("kind", ["media", "archive"])
def test_reports_validate_against_the_test_copy_of_the_schemas(category: str, kind: str) -> None:
    report = compose_report(_input(category, kind, n=3))
    assert validation_errors(report, XARF) == []
    assert "orbweaver:escalation" in report["tags"]


def test_category_mapping() -> None:
    assert classification("csam_prepubescent") == "A2"
    assert classification("csam_prepubescent", severity=1) == "A1"
    assert classification("csam_postpubescent") == "B2"
    assert compose_report(_input("csam_prepubescent"))["type"] == "csam"
    harmful = compose_report(_input("harmful_abusive"))
    assert harmful["type"] == "csem" and "classification" not in harmful
    with pytest.raises(ValueError):
        compose_report(_input("not_actionable"))


def test_schema_rejects_a_broken_report() -> None:
    report = compose_report(_input("csam_prepubescent"))
    report["tags"] = ["orbweaver:round:2"]  # two colons: not namespace:predicate
    report["reporter"]["contact"] = "not an address"
    assert len(validation_errors(report, XARF)) >= 2


def _settings(sink: SmtpSink | None = None, **kw: object) -> NoticeSettings:
    return NoticeSettings(
        smtp_host="127.0.0.1",
        smtp_port=sink.port if sink else 1,
        notice_from="n@hotline.test",
        notice_domain="hotline.test",
        delivery_backoff_s=60,
        **kw,  # type: ignore[arg-type]
    )


def _world(store: Store, clock: SettableClock) -> FixedAttributor:
    now = clock.now().replace(tzinfo=None)
    with store.session() as s:
        site = provider(
            s, now, "ImgSite", email="abuse@imgsite.test", service_type="content_administrator"
        )
        host = provider(s, now, "BigHost", email="abuse@bighost.test")
        detect(s, now, "http://imgsite.test/a.jpg", seed="a")
        detect(s, now, "http://imgsite.test/b.jpg", seed="b", category="harmful_abusive")
        for i in range(3):
            detect(
                s,
                now,
                "http://imgsite.test/f.zip",
                seed=f"z{i}",
                archive_url="http://imgsite.test/f.zip",
                member_path=f"in/{i}.png",
            )
        detect(s, now, "http://abcdefghijklmnop.onion/c.jpg", seed="c", network="tor")
        chain = [
            ChainLink("content_administrator", site.id, site.name, site.abuse_email),
            ChainLink("hosting_provider", host.id, host.name, host.abuse_email),
        ]
    return FixedAttributor({"imgsite.test": chain}, {"imgsite.test": site.id})


def _send(
    store: Store, clock: SettableClock, settings: NoticeSettings, http: GuardedClient | None = None
) -> int:
    with SmtpWebhookTransport(settings, http) as t:
        return deliver_due(store, clock, t, settings, on_sent=make_on_sent(settings)).sent


def test_plan_and_deliver_one_notice_per_url_with_archive_members(
    store: Store, clock: SettableClock
) -> None:
    att = _world(store, clock)
    with SmtpSink() as sink:
        settings = _settings(sink)
        with store.session() as s:
            stats = plan_notices(s, clock, att, settings)
        assert (stats.notices, stats.tor_only, stats.enqueued) == (3, 1, 3)
        with store.session() as s:  # planning again adds nothing
            assert plan_notices(s, clock, att, settings).enqueued == 0
        assert _send(store, clock, settings) == 3
        assert _send(store, clock, settings) == 0
        msgs = sink.messages
    assert len(msgs) == 3 and {m["To"] for m in msgs} == {"abuse@imgsite.test"}
    reports = {}
    for m in msgs:
        parts = {p.get_filename(): p for p in m.walk() if p.get_filename()}
        report = json.loads(parts["xarf.json"].get_payload(decode=True))
        assert validation_errors(report, XARF) == []
        reports[report["url"]] = (report, m)
    archive, mail = reports["http://imgsite.test/f.zip"]
    assert "hash_values" not in archive and len(archive["evidence"]) == 1
    assert "in/2.png" in mail.get_body(("plain",)).get_content()
    assert reports["http://imgsite.test/b.jpg"][0]["type"] == "csem"
    assert "CSAM" not in reports["http://imgsite.test/b.jpg"][1]["Subject"]
    with store.session() as s:
        tor = s.scalar(select(Notice).where(Notice.status == "tor_only"))
        assert tor is not None and tor.provider_id is None
        sent = s.scalars(select(Notice).where(Notice.first_sent_at.is_not(None))).all()
        assert len(sent) == 3 and all(n.rounds_sent == 1 for n in sent)
        assert s.scalar(select(func.count()).select_from(NoticeItem)) == 6
        events = s.scalars(select(Event.kind).where(Event.kind == "notice.sent")).all()
        assert len(events) == 3


def test_followups_then_escalation_up_the_chain(store: Store, clock: SettableClock) -> None:
    att = _world(store, clock)
    with SmtpSink() as sink:
        settings = _settings(sink, escalate_after_rounds=2)
        with store.session() as s:
            plan_notices(s, clock, att, settings)
        _send(store, clock, settings)
        for _ in range(3):
            clock.advance(timedelta(hours=24, minutes=1))
            with store.session() as s:
                schedule_rounds(s, clock, settings)
            _send(store, clock, settings)
        msgs = sink.messages
    per_url: dict[str, list[str]] = {}
    for m in msgs:
        per_url.setdefault(m["To"], []).append(m["Subject"].strip())
    # 3 notices x (first, follow-up 1) to the site, then 3 escalations to the host, then
    # one more follow-up each to the site.
    assert len(per_url["abuse@bighost.test"]) == 3
    assert all(sub.startswith("Escalation") for sub in per_url["abuse@bighost.test"]), per_url
    assert len(per_url["abuse@imgsite.test"]) == 9
    with store.session() as s:
        n = s.scalars(select(Notice).where(Notice.status == "open")).first()
        assert n is not None and n.escalation_level == 1 and n.rounds_sent == 3
        kinds = s.scalars(select(Event.kind)).all()
        assert kinds.count("notice.escalated") == 3


def test_no_followup_once_offline(store: Store, clock: SettableClock) -> None:
    att = _world(store, clock)
    with SmtpSink() as sink:
        settings = _settings(sink)
        with store.session() as s:
            plan_notices(s, clock, att, settings)
        _send(store, clock, settings)
        with store.session() as s:
            for n in s.scalars(select(Notice).where(Notice.status == "open")):
                n.status = "removed"
        clock.advance(timedelta(days=3))
        with store.session() as s:
            assert schedule_rounds(s, clock, settings) == 0


def test_failures_back_off_then_surface(store: Store, clock: SettableClock) -> None:
    att = _world(store, clock)
    settings = _settings(None, delivery_max_attempts=3)  # port 1: connection refused
    with store.session() as s:
        plan_notices(s, clock, att, settings)
    for _ in range(3):
        with SmtpWebhookTransport(settings) as t:
            stats = deliver_due(store, clock, t, settings)
        assert stats.sent == 0
        with SmtpWebhookTransport(settings) as t:  # not due again before the backoff
            assert deliver_due(store, clock, t, settings).retried == 0
        clock.advance(timedelta(hours=1))
    with store.session() as s:
        rows = s.scalars(select(Outbox)).all()
        assert {r.status for r in rows} == {"failed"} and all(r.attempts == 3 for r in rows)
        kinds = s.scalars(select(Event.kind)).all()
        assert kinds.count("outbox.retry") == 6 and kinds.count("outbox.failed") == 3


def test_permanent_refusal_is_not_retried(store: Store, clock: SettableClock) -> None:
    att = _world(store, clock)
    with SmtpSink() as sink:
        sink.handler.refuse.add("abuse@imgsite.test")
        settings = _settings(sink)
        with store.session() as s:
            plan_notices(s, clock, att, settings)
        with SmtpWebhookTransport(settings) as t:
            stats = deliver_due(store, clock, t, settings)
    assert stats.failed == 3 and stats.retried == 0


def test_a_dead_worker_lease_is_reclaimed_and_resent_once(
    store: Store, clock: SettableClock
) -> None:
    """A worker that died after marking a row `sending` leaves it to the next one, which
    resends it with the same Message-ID (receivers can drop the copy) and says so."""
    att = _world(store, clock)
    with SmtpSink() as sink:
        settings = _settings(sink)
        with store.session() as s:
            plan_notices(s, clock, att, settings)
            row = s.scalars(select(Outbox)).first()
            assert row is not None
            row.status = "sending"
            row.next_attempt_at = row.next_attempt_at + timedelta(seconds=300)
        assert _send(store, clock, settings) == 2  # the leased row waits
        clock.advance(timedelta(seconds=301))
        assert _send(store, clock, settings) == 1
        ids = [m["Message-ID"] for m in sink.messages]
    assert len(ids) == len(set(ids)) == 3
    with store.session() as s:
        assert s.scalars(select(Event.kind).where(Event.kind == "outbox.uncertain_resend")).all()


def test_webhook_delivery(store: Store, clock: SettableClock) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    got: list[dict[str, object]] = []

    class H(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append({"key": self.headers["Idempotency-Key"], **json.loads(body)})
            self.send_response(202)
            self.end_headers()

        def log_message(self, *a: object) -> None:
            pass

    srv = HTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        now = clock.now().replace(tzinfo=None)
        with store.session() as s:
            p = provider(s, now, "HookHost", webhook=f"http://127.0.0.1:{srv.server_port}/x")
            detect(s, now, "http://hook.test/a.jpg", seed="h")
        att = FixedAttributor(
            {"hook.test": [ChainLink("hosting_provider", p.id, p.name)]}, {"hook.test": p.id}
        )
        settings = _settings(None)
        with store.session() as s:
            plan_notices(s, clock, att, settings)
        loopback = NetworkPolicy(allow_networks=[ipaddress.ip_network("127.0.0.1/32")])
        assert _send(store, clock, settings, GuardedClient(loopback, Resolver([]))) == 1
    finally:
        srv.shutdown()
    assert len(got) == 1 and got[0]["key"] == got[0]["report_id"]
    assert validation_errors({k: v for k, v in got[0].items() if k != "key"}, XARF) == []
