"""RDAP through the network policy: an RDAP answer is attacker-influenced, so every hop is
checked (asserted by the connections a forbidden server saw), redirects are limited, and a
body is read under a cap."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator

import pytest

from crawl.loopback import LoopbackDNS, LoopbackHTTP, endless, redirect
from orbweaver.attribution.rdap import RdapClient, RdapError
from orbweaver.net import GuardedClient, NetworkPolicy, Resolver


def _bootstrap(base: str) -> dict[str, bytes]:
    files = {
        "ipv4.json": [[["127.0.0.0/8"], [base]]],
        "asn.json": [[["64512-65534"], [base]]],
        "dns.json": [[["test"], [base]]],
    }
    return {name: json.dumps({"services": s}).encode() for name, s in files.items()}


@pytest.fixture
def rdap() -> Iterator[LoopbackHTTP]:
    server = LoopbackHTTP("127.0.0.1")
    for name, body in _bootstrap(server.url("/rdap/")).items():
        server.add(f"/boot/{name}", body, content_type="application/json")
    yield server
    server.stop()


@pytest.fixture
def internal() -> Iterator[LoopbackHTTP]:
    """A server outside the allowed range: nothing may ever connect to it."""
    server = LoopbackHTTP("127.0.0.2")
    for name, body in _bootstrap(server.url("/rdap/")).items():
        server.add(f"/boot/{name}", body, content_type="application/json")
    yield server
    server.stop()


@pytest.fixture
def dns() -> Iterator[LoopbackDNS]:
    server = LoopbackDNS({"evil.test": ["127.0.0.2"], "rdap.test": ["127.0.0.1"]})
    yield server
    server.stop()


def _client(rdap: LoopbackHTTP, dns: LoopbackDNS, **kw: int) -> RdapClient:
    policy = NetworkPolicy(allow_networks=[ipaddress.ip_network("127.0.0.1/32")], timeout=5)
    guarded = GuardedClient(policy, Resolver([dns.server], cache_ttl=0))
    return RdapClient(rdap.url("/boot/"), guarded, **kw)


@pytest.mark.parametrize("to", ["evil.test", "127.0.0.2"])
def test_a_redirect_to_a_refused_address_never_connects(
    rdap: LoopbackHTTP, internal: LoopbackHTTP, dns: LoopbackDNS, to: str
) -> None:
    rdap.add("/boot/ipv4.json", handler=redirect(f"http://{to}:{internal.port}/boot/ipv4.json"))
    client = _client(rdap, dns)
    with pytest.raises(RdapError, match="outside ORBWEAVER_CRAWL_ALLOW_NETWORKS"):
        client.bootstrap()
    client.close()
    assert rdap.hits == {"/boot/ipv4.json": 1}
    assert internal.connections == 0 and internal.hits == {}


def test_an_rdap_service_at_a_refused_address_is_never_contacted(
    internal: LoopbackHTTP, dns: LoopbackDNS
) -> None:
    client = _client(internal, dns)
    with pytest.raises(RdapError, match="outside ORBWEAVER_CRAWL_ALLOW_NETWORKS"):
        client.bootstrap()
    assert internal.connections == 0


def test_redirects_inside_the_policy_are_followed_and_limited(
    rdap: LoopbackHTTP, dns: LoopbackDNS
) -> None:
    """Registries redirect to one another: followed hop by hop, by name too, up to the limit."""
    real = rdap.routes["/boot/ipv4.json"]
    rdap.routes["/moved/ipv4.json"] = real
    rdap.add("/boot/ipv4.json", handler=redirect(f"http://rdap.test:{rdap.port}/moved/ipv4.json"))
    client = _client(rdap, dns)
    boot = client.bootstrap()
    assert [str(net) for net, _ in boot.ipv4] == ["127.0.0.0/8"] and "test" in boot.dns
    assert rdap.hits["/moved/ipv4.json"] == 1
    rdap.add("/loop/a", handler=redirect("/loop/b"))
    rdap.add("/loop/b", handler=redirect("/loop/a"))
    with pytest.raises(RdapError, match="too many redirects"):
        client._get(rdap.url("/loop/a"))
    assert rdap.hits["/loop/a"] + rdap.hits["/loop/b"] == 6  # the first and 5 redirects
    client.close()


def test_answers_are_capped_and_must_be_json_objects(rdap: LoopbackHTTP, dns: LoopbackDNS) -> None:
    client = _client(rdap, dns, max_bytes=1024)
    rdap.add("/big.json", b"[" + b"0," * 2000 + b"0]", content_type="application/json")
    rdap.add("/endless.json", handler=endless(None))
    rdap.add("/list.json", b"[1, 2]", content_type="application/json")
    rdap.add("/text", b"<html>no</html>")
    for path, reason in (
        ("/big.json", "larger than 1024 bytes"),
        ("/endless.json", "larger than 1024 bytes"),
        ("/list.json", "not a JSON object"),
        ("/text", "not JSON"),
        ("/missing", "HTTP 404"),
    ):
        with pytest.raises(RdapError, match=reason):
            client._get(rdap.url(path))
    client.close()
