"""Real protocols on real sockets: DNS, HTTP sites, SMTP, webhooks, RDAP, the Tor gateway."""

from __future__ import annotations

import json
import re
import smtplib
from datetime import timedelta
from email.message import EmailMessage

import dns.message
import dns.query
import dns.rcode
import httpx
import pytest

from orbweaver.sim import World
from orbweaver.sim.scenario import SCENARIO_DIR


def resolve(world: World, name: str) -> str | None:
    host, port = world.info["dns"].split(":")
    reply = dns.query.udp(dns.message.make_query(name, "A"), host, port=int(port), timeout=2)
    if reply.rcode() != dns.rcode.NOERROR:
        return None
    return reply.answer[0][0].address


def fetch(world: World, url: str) -> httpx.Response:
    """GET a world URL, resolving its host with the world's DNS (as the crawler will)."""
    m = re.match(r"http://([^/]+)(/.*)", url)
    assert m
    ip = resolve(world, m.group(1))
    assert ip is not None, url
    return httpx.get(
        f"http://{ip}:{world.info['http_port']}{m.group(2)}", headers={"Host": m.group(1)}
    )


def media_urls(world: World, domain: str) -> list[str]:
    site = world.catalogue.sites[domain]
    now = world.clock.now()
    return [it.url for it in site.items if it.online(now)]


def xarf_mail(to: str, url: str, tags: list[str] | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "notices@hotline.test", to, "Removal request"
    msg.set_content(f"Please remove {url}")
    report = {
        "xarf_version": "4.2.0",
        "report_id": "r-1",
        "category": "content",
        "type": "csam",
        "url": url,
        "tags": tags or [],
    }
    msg.add_attachment(
        json.dumps(report).encode(), maintype="application", subtype="json", filename="xarf.json"
    )
    return msg


def test_dns_answers_sites_and_refuses_onion(world: World) -> None:
    site = world.catalogue.sites["pixvenue.test"]
    assert resolve(world, "pixvenue.test") == site.ip
    assert resolve(world, "nothing-here.test") is None
    onion = world.info["seeds_onion"][0].split("/")[2]
    assert resolve(world, onion) is None


def test_pages_link_images_that_are_served(world: World) -> None:
    index = fetch(world, "http://pixvenue.test/")
    assert index.status_code == 200
    view = re.search(r"/view/[0-9a-f]+", index.text)
    assert view
    page = fetch(world, f"http://pixvenue.test{view.group(0)}")
    assert page.status_code == 200
    url = media_urls(world, "pixvenue.test")[0]
    image = fetch(world, url)
    assert image.status_code == 200
    assert image.headers["content-type"].startswith("image/")
    label = httpx.get(
        f"{world.info['control']}/label/{__import__('hashlib').sha256(image.content).hexdigest()}"
    )
    assert label.json()["label"] in ("known", "actionable", "benign")


def test_cdn_fronts_sites_from_its_own_addresses(world: World) -> None:
    cdn = world.catalogue.party("EdgeFront")
    site = next(s for s in cdn.sites if s.cdn is cdn)
    ip = resolve(world, site.domain)
    assert ip in cdn.network.exploded or (
        ip is not None and ip.startswith(str(cdn.network.network_address)[:7])
    )
    resp = fetch(world, f"http://{site.domain}/")
    assert resp.headers["x-sim-cdn"] == cdn.slug
    assert site.host is world.catalogue.party("Boxhost")


def test_smtp_notice_makes_the_provider_remove(world: World) -> None:
    party = world.catalogue.party("PixVenue")
    url = media_urls(world, "pixvenue.test")[1]
    host, port = world.info["smtp"].split(":")
    with smtplib.SMTP(host, int(port), timeout=5) as smtp:
        smtp.send_message(xarf_mail(party.abuse_email, url))
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            smtp.send_message(xarf_mail("nobody@elsewhere.test", url))
    notices = [n for n in world.engine.ledger.notices if n.url == url]
    assert notices and notices[0].recipient == "PixVenue" and notices[0].channel == "smtp"
    world.clock.advance(timedelta(days=400))  # far beyond any delay this provider draws
    assert fetch(world, url).status_code == 404
    truth = world.truth()
    row = next(p for p in truth["providers"] if p["name"] == "PixVenue")
    assert row["targeted"] == 1 and row["removed"] == 1


def test_webhook_notice_is_accepted(world: World) -> None:
    party = world.catalogue.party("Hooknet")
    url = next(u for s in party.sites for u in media_urls(world, s.domain))
    hook = world.info["webhooks"][party.abuse_email]
    resp = httpx.post(hook, json={"report_id": "w-1", "type": "csam", "url": url, "tags": []})
    assert resp.status_code == 202
    assert world.engine.ledger.notices[-1].recipient == "Hooknet"


def test_clock_is_read_and_advanced_over_http(world: World) -> None:
    before = httpx.get(world.info["clock"]).json()["now"]
    after = httpx.post(f"{world.info['control']}/clock/advance", json={"days": 1}).json()["now"]
    assert after > before
    assert httpx.get(world.info["clock"]).json()["now"] == after


def test_tor_gateway_alone_reaches_onion_forums(world: World) -> None:
    onion = world.info["seeds_onion"][0]
    with httpx.Client(proxy=world.info["tor_proxy"], timeout=5) as tor:
        forum = tor.get(onion)
        assert forum.status_code == 200
        thread = re.search(r"/t/[0-9a-f]+", forum.text)
        assert thread
        post = tor.get(onion.rstrip("/") + thread.group(0))
        assert re.search(r"http://files-[0-9a-f]+\.test/dl/", post.text)
        assert tor.get("http://example.com/").status_code == 403
    with pytest.raises(httpx.HTTPError):
        httpx.get(onion, timeout=3)


def test_rdap_with_whoisit(world: World) -> None:
    whoisit = pytest.importorskip("whoisit")
    boot = httpx.get(world.info["rdap_bootstrap"] + "whoisit.json").text
    whoisit.clear_bootstrapping()
    whoisit.load_bootstrap_data(boot, allow_insecure=True)
    try:
        party = world.catalogue.party("Boxhost")
        asn = whoisit.asn(party.asn, allow_insecure_ssl=True)
        assert asn["entities"]["registrant"][0]["name"] == party.name
        dom = whoisit.domain("pixvenue.test")
        assert dom["entities"]["registrar"][0]["name"].startswith("Sim Registrar")
        # whoisit refuses private (loopback) addresses in bootstrap, so IPs are read directly
        site_ip = world.catalogue.sites["pixvenue.test"].ip
        raw = httpx.get(f"{world.info['rdap']}ip/{site_ip}").json()
        abuse = raw["entities"][0]["entities"][0]
        assert abuse["roles"] == ["abuse"]
        assert ["email", {}, "text", "abuse@pixvenue.test"] in abuse["vcardArray"][1]
    finally:
        whoisit.clear_bootstrapping()


def test_stopping_with_idle_keep_alive_connections_logs_no_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The world cancels open connections when it stops; that is their normal end, not an
    error for asyncio to print (it did, once per connection, at the end of every demo)."""
    import socket

    scenario = SCENARIO_DIR / "small.toml"
    with World.start(scenario, scale=0.2, seed=4) as small:
        ip = resolve(small, "pixvenue.test")
        assert ip is not None
        idle = [socket.create_connection((ip, small.info["http_port"])) for _ in range(3)]
        with httpx.Client() as client:  # and one that has served a request, kept alive
            url = f"http://{ip}:{small.info['http_port']}/"
            assert client.get(url, headers={"Host": "pixvenue.test"}).status_code == 200
            with caplog.at_level("ERROR", logger="asyncio"):
                small.stop()
    for sock in idle:
        sock.close()
    assert "Exception in callback" not in caplog.text
    assert "CancelledError" not in caplog.text
