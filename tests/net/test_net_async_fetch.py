"""The asyncio client of the media workers keeps the same policy as the synchronous one: every
redirect hop checked and pinned, bodies capped, a deadline per hop (issue 15)."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from crawl.loopback import LoopbackDNS, LoopbackHTTP, endless, redirect, trickle
from orbweaver.net import (
    AsyncGuardedClient,
    FetchError,
    NetworkPolicy,
    PolicyError,
    Reply,
    Resolver,
)


@pytest.fixture
def site() -> Iterator[LoopbackHTTP]:
    server = LoopbackHTTP("127.0.0.1")
    yield server
    server.stop()


@pytest.fixture
def internal() -> Iterator[LoopbackHTTP]:
    server = LoopbackHTTP("127.0.0.2")
    server.add("/secret", b"internal", content_type="text/plain")
    yield server
    server.stop()


@pytest.fixture
def dns() -> Iterator[LoopbackDNS]:
    server = LoopbackDNS({"site.test": ["127.0.0.1"], "evil.test": ["127.0.0.2"]})
    yield server
    server.stop()


def get(dns: LoopbackDNS, url: str, **kw: object) -> Reply:
    kw.setdefault("timeout", 5)
    policy = NetworkPolicy(allow_networks=[ipaddress.ip_network("127.0.0.1/32")], **kw)  # type: ignore[arg-type]
    client = AsyncGuardedClient(policy, Resolver([dns.server], cache_ttl=0))

    async def run() -> Reply:
        try:
            return await client.get(url)
        finally:
            await client.aclose()

    return asyncio.run(run())


@pytest.mark.parametrize("to", ["evil.test", "127.0.0.2"])
def test_a_redirect_hop_to_a_refused_address_never_connects(
    site: LoopbackHTTP, internal: LoopbackHTTP, dns: LoopbackDNS, to: str
) -> None:
    site.add("/r", handler=redirect(f"http://{to}:{internal.port}/secret"))
    with pytest.raises(PolicyError, match=r"127\.0\.0\.2 is loopback and outside"):
        get(dns, site.url("/r", host="site.test"))
    assert site.hits == {"/r": 1}
    assert internal.connections == 0


def test_hops_connect_to_the_checked_address_with_the_name_in_host(
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
    site.add("/b", handler=picture)
    reply = get(dns, site.url("/a"))
    assert reply.status == 200 and reply.body == b"abc"
    assert reply.url == f"http://site.test:{site.port}/b"
    assert seen == [f"site.test:{site.port}"]


def test_redirect_limit_body_cap_and_deadline(site: LoopbackHTTP, dns: LoopbackDNS) -> None:
    for i in range(6):
        site.add(f"/chain/{i}", handler=redirect(f"/chain/{i + 1}"))
    with pytest.raises(PolicyError, match="too many redirects"):
        get(dns, site.url("/chain/0"), max_redirects=3)
    site.add("/huge.jpg", handler=endless(None))
    with pytest.raises(FetchError, match=f"larger than {256 * 1024} bytes"):
        get(dns, site.url("/huge.jpg"), media_max_bytes=256 * 1024)
    site.add("/slow.jpg", handler=trickle(400, 0.02))
    with pytest.raises(FetchError, match="timeout"):
        get(dns, site.url("/slow.jpg"), timeout=0.5)
