"""The world's fault switches: SMTP, webhooks and DNS down for a stretch of world time, set over
the control API, ending by themselves when the world clock passes the outage."""

from __future__ import annotations

import smtplib
import socket
from datetime import timedelta

import dns.exception
import dns.message
import dns.query
import dns.rcode
import httpx
import pytest

from orbweaver.sim import World

from .test_network import media_urls, resolve, xarf_mail


def control(world: World, body: dict[str, object]) -> httpx.Response:
    return httpx.post(f"{world.info['control']}/faults", json=body, timeout=5)


def test_smtp_refuses_for_six_world_hours_then_takes_mail(world: World) -> None:
    party = world.catalogue.party("PixVenue")
    url = media_urls(world, "pixvenue.test")[2]
    host, port = world.info["smtp"].split(":")
    state = control(world, {"service": "smtp", "hours": 6}).json()
    assert state["down"]["smtp"]["mode"] == "refuse"
    with pytest.raises(smtplib.SMTPConnectError) as refused:
        smtplib.SMTP(host, int(port), timeout=5)
    assert refused.value.smtp_code == 421  # transient: a sender keeps the message and retries
    world.clock.advance(timedelta(hours=5, minutes=59))
    with pytest.raises(smtplib.SMTPConnectError):
        smtplib.SMTP(host, int(port), timeout=5)
    world.clock.advance(timedelta(minutes=1))  # the outage is over, by world time alone
    with smtplib.SMTP(host, int(port), timeout=5) as smtp:
        smtp.send_message(xarf_mail(party.abuse_email, url))
    assert any(n.url == url for n in world.engine.ledger.notices)
    after = httpx.get(f"{world.info['control']}/faults").json()
    assert after["down"] == {} and after["refused"]["smtp"] >= 2


def test_smtp_timeout_mode_never_greets(world: World) -> None:
    host, port = world.info["smtp"].split(":")
    control(world, {"service": "smtp", "hours": 1, "mode": "timeout"})
    try:
        with pytest.raises((TimeoutError, socket.timeout, smtplib.SMTPServerDisconnected)):
            smtplib.SMTP(host, int(port), timeout=0.5)
    finally:
        assert control(world, {"clear": "smtp"}).json()["down"] == {}
    with smtplib.SMTP(host, int(port), timeout=5) as smtp:
        assert smtp.noop()[0] == 250


def test_dns_fails_for_one_world_hour_over_udp_and_tcp(world: World) -> None:
    host, port = world.info["dns"].split(":")
    query = dns.message.make_query("pixvenue.test", "A")
    control(world, {"service": "dns", "hours": 1})
    assert dns.query.udp(query, host, port=int(port), timeout=2).rcode() == dns.rcode.SERVFAIL
    assert dns.query.tcp(query, host, port=int(port), timeout=2).rcode() == dns.rcode.SERVFAIL
    world.clock.advance(timedelta(hours=1))
    assert resolve(world, "pixvenue.test") == world.catalogue.sites["pixvenue.test"].ip


def test_dns_timeout_mode_answers_nothing(world: World) -> None:
    host, port = world.info["dns"].split(":")
    query = dns.message.make_query("pixvenue.test", "A")
    control(world, {"service": "dns", "seconds": 600, "mode": "timeout"})
    with pytest.raises(dns.exception.Timeout):
        dns.query.udp(query, host, port=int(port), timeout=0.5)
    with pytest.raises(dns.exception.Timeout):
        dns.query.tcp(query, host, port=int(port), timeout=0.5)
    control(world, {"clear": True})
    assert resolve(world, "pixvenue.test") is not None


def test_webhooks_answer_503_while_down(world: World) -> None:
    party = world.catalogue.party("Hooknet")
    url = next(u for s in party.sites for u in media_urls(world, s.domain))
    hook = world.info["webhooks"][party.abuse_email]
    report = {"report_id": "w-9", "type": "csam", "url": url, "tags": []}
    before = len(world.engine.ledger.notices)
    world.faults.down("webhooks", timedelta(hours=2))  # the in-process switch, same effect
    assert httpx.post(hook, json=report).status_code == 503
    assert len(world.engine.ledger.notices) == before  # nothing was received
    world.clock.advance(timedelta(hours=2))
    assert httpx.post(hook, json=report).status_code == 202


@pytest.mark.parametrize(
    "body",
    [
        {"service": "ftp", "hours": 1},
        {"service": "smtp", "hours": 1, "mode": "servfail"},
        {"service": "dns", "hours": 0},
        {"service": "dns", "hours": "soon"},
    ],
)
def test_bad_fault_requests_are_refused(world: World, body: dict[str, object]) -> None:
    reply = control(world, body)
    assert reply.status_code == 400 and reply.json()["error"]
    assert httpx.get(f"{world.info['control']}/faults").json()["down"] == {}
