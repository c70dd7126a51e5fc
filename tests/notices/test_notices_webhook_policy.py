"""Webhook delivery through the network policy: a webhook URL is data (a provider record), so
its address is checked and pinned and no redirect is followed, asserted by the connections a
forbidden server saw."""

from __future__ import annotations

import ipaddress
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from crawl.loopback import LoopbackDNS, LoopbackHTTP
from orbweaver.config import get_settings
from orbweaver.net import GuardedClient, NetworkPolicy, Resolver
from orbweaver.notices.settings import NoticeSettings
from orbweaver.notices.transport import DeliveryError, SmtpWebhookTransport

SETTINGS = NoticeSettings(smtp_host="127.0.0.1", smtp_port=1, webhook_timeout_s=5)


class Hooks:
    """A webhook endpoint on loopback: records each POST and answers `status` (and `location`)."""

    def __init__(self, host: str = "127.0.0.1", status: int = 202, location: str = "") -> None:
        self.posts: list[dict[str, object]] = []
        owner = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                owner.posts.append({"key": self.headers["Idempotency-Key"], **json.loads(body)})
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a: object) -> None:
                pass

        self.server = ThreadingHTTPServer((host, 0), H)
        self.port = self.server.server_address[1]
        self.url = f"http://{host}:{self.port}/hooks/p"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def internal() -> Iterator[LoopbackHTTP]:
    """A server outside the allowed range: nothing may ever connect to it."""
    server = LoopbackHTTP("127.0.0.2")
    yield server
    server.stop()


@pytest.fixture
def dns() -> Iterator[LoopbackDNS]:
    server = LoopbackDNS({"hooks.test": ["127.0.0.1"], "evil.test": ["127.0.0.2"]})
    yield server
    server.stop()


def _transport(dns: LoopbackDNS) -> SmtpWebhookTransport:
    policy = NetworkPolicy(allow_networks=[ipaddress.ip_network("127.0.0.1/32")])
    client = GuardedClient(policy, Resolver([dns.server], cache_ttl=0), timeout=5)
    return SmtpWebhookTransport(SETTINGS, client)


def test_a_webhook_at_an_allowed_address_is_delivered_by_name(dns: LoopbackDNS) -> None:
    hooks = Hooks()
    try:
        with _transport(dns) as t:
            t.post_webhook(f"http://hooks.test:{hooks.port}/hooks/p", {"report_id": "r1"}, "k1")
            t.post_webhook(hooks.url, {"report_id": "r2"}, "k2")
    finally:
        hooks.stop()
    assert hooks.posts == [{"key": "k1", "report_id": "r1"}, {"key": "k2", "report_id": "r2"}]


@pytest.mark.parametrize("host", ["127.0.0.2", "evil.test"])
def test_a_webhook_at_a_refused_address_fails_for_good_without_a_connection(
    internal: LoopbackHTTP, dns: LoopbackDNS, host: str
) -> None:
    with _transport(dns) as t, pytest.raises(DeliveryError, match="refused") as err:
        t.post_webhook(f"http://{host}:{internal.port}/hooks/p", {"report_id": "r"}, "k")
    assert err.value.permanent
    assert internal.connections == 0


def test_a_webhook_redirect_is_not_followed(internal: LoopbackHTTP, dns: LoopbackDNS) -> None:
    hooks = Hooks(status=307, location=f"http://127.0.0.1:{internal.port}/elsewhere")
    try:
        with _transport(dns) as t, pytest.raises(DeliveryError, match="HTTP 307") as err:
            t.post_webhook(hooks.url, {"report_id": "r"}, "k")
    finally:
        hooks.stop()
    assert not err.value.permanent  # retried later, as any answer that is not 2xx or 4xx
    assert len(hooks.posts) == 1 and internal.connections == 0


def test_a_name_that_does_not_resolve_is_retried(dns: LoopbackDNS) -> None:
    with _transport(dns) as t, pytest.raises(DeliveryError) as err:
        t.post_webhook("http://nowhere.test/hooks/p", {"report_id": "r"}, "k")
    assert not err.value.permanent


def test_the_default_client_applies_the_deployment_policy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`orbweaver notify` builds no client: the transport takes the policy from settings."""
    hooks = Hooks()
    monkeypatch.setenv("ORBWEAVER_DNS_SERVERS", "")
    try:
        for allowed, delivered in (("", False), ("127.0.0.1/32", True)):
            monkeypatch.setenv("ORBWEAVER_CRAWL_ALLOW_NETWORKS", allowed)
            get_settings.cache_clear()
            with SmtpWebhookTransport(SETTINGS) as t:
                if delivered:
                    t.post_webhook(hooks.url, {"report_id": "ok"}, "k")
                else:
                    with pytest.raises(DeliveryError, match="refused"):
                        t.post_webhook(hooks.url, {"report_id": "no"}, "k")
    finally:
        get_settings.cache_clear()
        hooks.stop()
    assert [p["report_id"] for p in hooks.posts] == ["ok"]
