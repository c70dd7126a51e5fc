"""The guarded client against loopback servers: the policy on every hop, asserted by what the
servers saw (connections accepted), never by log text."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from crawl.loopback import LoopbackDNS, LoopbackHTTP, endless, redirect, trickle
from orbweaver.net import (
    FetchError,
    GuardedClient,
    GuardedFetcher,
    NetworkPolicy,
    PolicyError,
    Resolver,
)

ALLOWED = "127.0.0.1/32"


@pytest.fixture
def site() -> Iterator[LoopbackHTTP]:
    server = LoopbackHTTP("127.0.0.1")
    yield server
    server.stop()


@pytest.fixture
def internal() -> Iterator[LoopbackHTTP]:
    """A server outside the allowed range: nothing may ever connect to it."""
    server = LoopbackHTTP("127.0.0.2")
    server.add("/secret", b"internal", content_type="text/plain")
    yield server
    server.stop()


@pytest.fixture
def dns(internal: LoopbackHTTP) -> Iterator[LoopbackDNS]:
    server = LoopbackDNS(
        {
            "site.test": ["127.0.0.1"],
            "evil.test": ["127.0.0.2"],
            "mixed.test": ["127.0.0.1", "127.0.0.2"],
        }
    )
    yield server
    server.stop()


def _policy(**kw: object) -> NetworkPolicy:
    kw.setdefault("timeout", 5)
    return NetworkPolicy(allow_networks=[ipaddress.ip_network(ALLOWED)], **kw)  # type: ignore[arg-type]


def _fetcher(dns: LoopbackDNS, **kw: object) -> GuardedFetcher:
    return GuardedFetcher(_policy(**kw), Resolver([dns.server], cache_ttl=0))


@pytest.mark.parametrize("first", ["127.0.0.1", "site.test"])
@pytest.mark.parametrize("to", ["evil.test", "mixed.test", "127.0.0.2"])
def test_a_redirect_hop_to_a_refused_address_never_connects(
    site: LoopbackHTTP, internal: LoopbackHTTP, dns: LoopbackDNS, first: str, to: str
) -> None:
    """Issue 21: a redirect to a name resolving to 127.0.0.2, with only 127.0.0.1/32 allowed,
    must never connect; the first hop, allowed, is fetched."""
    site.add("/r", handler=redirect(f"http://{to}:{internal.port}/secret"))
    fetcher = _fetcher(dns)
    try:
        got = fetcher.get(site.url("/r", host=first))
    finally:
        fetcher.close()
    assert site.hits == {"/r": 1}
    assert internal.connections == 0 and internal.hits == {}
    assert not got.ok and got.status is None and got.sha256 is None
    assert "127.0.0.2 is loopback and outside ORBWEAVER_CRAWL_ALLOW_NETWORKS" in str(got.error)


def test_every_hop_is_fetched_from_the_checked_address_with_the_name_in_host(
    site: LoopbackHTTP, dns: LoopbackDNS
) -> None:
    seen: list[str] = []

    def picture(h: BaseHTTPRequestHandler) -> None:
        seen.append(h.headers["Host"])
        h.send_response(200)
        h.send_header("Content-Length", "3")
        h.end_headers()
        h.wfile.write(b"abc")

    site.add("/a", handler=redirect(f"http://site.test:{site.port}/b"))
    site.add("/b", handler=redirect("/c", status=307))
    site.add("/c", handler=picture)
    fetcher = _fetcher(dns)
    try:
        got = fetcher.get(site.url("/a"))
    finally:
        fetcher.close()
    assert got.ok and got.body == b"abc" and got.url == site.url("/a")
    assert seen == [f"site.test:{site.port}"]
    assert site.hits == {"/a": 1, "/b": 1, "/c": 1}
    # one lookup (A and AAAA) per hop on the name, none of it by the HTTP client
    assert dns.queries == ["site.test", "site.test", "site.test", "site.test"]


def test_redirects_stop_at_the_policy_limit(site: LoopbackHTTP, dns: LoopbackDNS) -> None:
    for i in range(10):
        site.add(f"/chain/{i}", handler=redirect(f"/chain/{i + 1}"))
    fetcher = _fetcher(dns, max_redirects=3)
    try:
        got = fetcher.get(site.url("/chain/0"))
    finally:
        fetcher.close()
    assert got.error == "too many redirects" and got.status is None
    assert site.hits == {f"/chain/{i}": 1 for i in range(4)}


@pytest.mark.parametrize("declared", [10 * 1024**3, None])
def test_a_body_over_its_cap_is_refused(
    site: LoopbackHTTP, dns: LoopbackDNS, declared: int | None
) -> None:
    site.add("/huge.jpg", handler=endless(declared))
    fetcher = _fetcher(dns, media_max_bytes=256 * 1024)
    try:
        got = fetcher.get(site.url("/huge.jpg"))
    finally:
        fetcher.close()
    assert got.error == f"larger than {256 * 1024} bytes" and got.status == 200
    assert got.body is None and got.sha256 is None


def test_a_trickling_body_ends_at_the_policy_timeout(site: LoopbackHTTP, dns: LoopbackDNS) -> None:
    site.add("/slow.jpg", handler=trickle(400, 0.02))  # 8 s at one byte every 20 ms
    fetcher = _fetcher(dns, timeout=0.5)
    try:
        got = fetcher.get(site.url("/slow.jpg"))
    finally:
        fetcher.close()
    assert got.error == "took longer than the policy's timeout" and got.status == 200


def test_tor_goes_through_the_proxy_named_by_host_and_only_there(
    dns: LoopbackDNS, internal: LoopbackHTTP
) -> None:
    """The proxy's name resolves through the same resolver as every other; it is trusted for
    the proxy connection (outside the allowed range) and refused as a clear-web host."""
    proxy = LoopbackHTTP("127.0.0.3")
    proxy.add("http://abc.onion/p.png", b"onion bytes", content_type="image/png")
    dns.records["proxy.test"] = ["127.0.0.3"]
    dns.records["alias.test"] = ["127.0.0.3"]
    fetcher = _fetcher(dns, tor_proxy=f"proxy.test:{proxy.port}")
    try:
        got = fetcher.get("http://abc.onion/p.png")
        assert got.ok and got.body == b"onion bytes"
        assert proxy.hits == {"http://abc.onion/p.png": 1} and proxy.connections == 1
        for url in (
            f"http://proxy.test:{proxy.port}/",
            f"http://proxy.test:{proxy.port + 1}/",
            f"http://alias.test:{proxy.port}/",
            f"http://127.0.0.3:{proxy.port}/",
        ):
            refused = fetcher.get(url)
            assert refused.status is None and refused.error
            assert "Tor proxy's host" in refused.error or "outside" in refused.error
        assert proxy.connections == 1
    finally:
        fetcher.close()
        proxy.stop()


class _Hooks:
    """A webhook endpoint on loopback that answers every POST with a redirect elsewhere."""

    def __init__(self, location: str) -> None:
        self.posts: list[bytes] = []
        owner = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                owner.posts.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(307)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_post_not_following_returns_the_redirect_and_the_errors_are_typed(
    internal: LoopbackHTTP, dns: LoopbackDNS
) -> None:
    hooks = _Hooks(f"http://evil.test:{internal.port}/secret")
    client = GuardedClient(_policy(), Resolver([dns.server], cache_ttl=0))
    try:
        reply = client.request(
            "POST", hooks.url, json={"a": 1}, follow_redirects=False, read_body=False
        )
        assert reply.status == 307 and reply.is_redirect and reply.body == b""
        assert hooks.posts == [b'{"a":1}']
        with pytest.raises(PolicyError, match=r"evil\.test resolves to 127\.0\.0\.2"):
            client.request("POST", hooks.url, json={"a": 2})  # followed: the hop is refused
        with pytest.raises(FetchError, match="ConnectError"):
            client.request("GET", f"http://127.0.0.1:{_closed_port()}/")
    finally:
        client.close()
        hooks.stop()
    assert len(hooks.posts) == 2 and internal.connections == 0
