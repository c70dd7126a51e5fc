"""Hostile RDAP and DNS answers from loopback servers started here: huge, malformed, with
control characters. Each is one clear RdapError or ResolveError (or a sane, one-line name), and
the next look-up on the same client works."""

from __future__ import annotations

import copy
import ipaddress
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import dns.message
import dns.rrset
import pytest

from crawl.loopback import LoopbackHTTP
from orbweaver.attribution.rdap import RdapClient, RdapError
from orbweaver.net import GuardedClient, NetworkPolicy, ResolveError, Resolver

GOOD_IP = "127.0.0.10"


def _entity(name: str, email: str = "abuse@host.test") -> dict[str, Any]:
    return {
        "objectClassName": "entity",
        "handle": "HOST-1",
        "roles": ["registrant"],
        "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", name]]],
        "entities": [
            {
                "objectClassName": "entity",
                "handle": "HOST-ABUSE",
                "roles": ["abuse"],
                "vcardArray": [
                    "vcard",
                    [["fn", {}, "text", "Abuse"], ["email", {}, "text", email]],
                ],
            }
        ],
    }


def _network(name: str = "Host Ltd", **extra: Any) -> dict[str, Any]:
    return {
        "objectClassName": "ip network",
        "handle": "NET-1",
        "startAddress": "127.0.0.0",
        "endAddress": "127.0.0.255",
        "ipVersion": "v4",
        "name": "NET",
        "cidr0_cidrs": [{"v4prefix": "127.0.0.0", "length": 24}],
        "entities": [_entity(name)],
        "arin_originas0_originautnums": [64512],
        **extra,
    }


def _with(path: list[Any], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(_network())
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


RDAP_CASES: dict[str, bytes] = {
    "not-json": b"<html>hello</html>",
    "json-array": b"[1, 2, 3]",
    "json-null": b"null",
    "truncated-json": json.dumps(_network()).encode()[:100],
    "invalid-utf8": b'{"name": "\xff\xfe"}',
    "huge-10mb": json.dumps(_network(remarks=[{"description": ["x" * 10_000_000]}])).encode(),
    "nesting-100000": b"[" * 100_000 + b"]" * 100_000,
    "entities-not-objects": json.dumps(_with(["entities"], ["x", None, 5])).encode(),
    "entities-a-string": json.dumps(_with(["entities"], "registrant")).encode(),
    "vcard-garbage": json.dumps(_with(["entities", 0, "vcardArray"], ["vcard", 5])).encode(),
    "origin-as-garbage": json.dumps(_with(["arin_originas0_originautnums"], "AS-x")).encode(),
    "origin-as-object": json.dumps(_with(["arin_originas0_originautnums"], {"a": 1})).encode(),
    "name-control-chars": json.dumps(_network("Evil\r\nBcc: x@evil.test\x00\x1b[2J")).encode(),
    "name-bidi-and-10k": json.dumps(_network("\u202e" + "N" * 10_000)).encode(),
    "name-formula": json.dumps(_network('=HYPERLINK("http://evil.test")')).encode(),
    "name-mathtext": json.dumps(_network("$\\frac{a}{$")).encode(),
    "email-not-a-string": json.dumps(
        _with(["entities", 0, "entities", 0, "vcardArray", 1, 1, 3], ["a", "b"])
    ).encode(),
}


@pytest.fixture(scope="module")
def rdap() -> Iterator[LoopbackHTTP]:
    server = LoopbackHTTP("127.0.0.1")
    base = server.url("/rdap/")
    boot = {"ipv4.json": [[["127.0.0.0/8"], [base]]], "asn.json": [], "dns.json": []}
    for name, services in boot.items():
        server.add(
            f"/boot/{name}", json.dumps({"services": services}), content_type="application/json"
        )
    server.add(f"/rdap/ip/{GOOD_IP}", json.dumps(_network()), content_type="application/json")
    for i, body in enumerate(RDAP_CASES.values()):
        server.add(f"/rdap/ip/127.0.1.{i}", body, content_type="application/rdap+json")
    yield server
    server.stop()


@pytest.fixture
def client(rdap: LoopbackHTTP) -> Iterator[RdapClient]:
    policy = NetworkPolicy(allow_networks=[ipaddress.ip_network("127.0.0.1/32")], timeout=10)
    c = RdapClient(rdap.url("/boot/"), GuardedClient(policy, Resolver(cache_ttl=0)))
    yield c
    c.close()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", list(RDAP_CASES))
def test_a_hostile_rdap_answer_is_an_rdap_error_or_a_sane_name(
    client: RdapClient, name: str
) -> None:
    index = list(RDAP_CASES).index(name)
    try:
        network = client.ip(f"127.0.1.{index}")
    except RdapError as exc:
        assert str(exc)
    else:
        owner = network.owner
        if owner is not None:
            assert owner.name.isprintable() and len(owner.name) <= 200
            assert owner.abuse_email is None or isinstance(owner.abuse_email, str)
    good = client.ip(GOOD_IP)
    assert good.owner is not None and good.owner.name == "Host Ltd" and good.asn == 64512


# --- DNS ---------------------------------------------------------------------------------


class HostileDNS:
    """A UDP DNS server answering each name with a crafted reply (wire bytes or a builder)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.running:
            try:
                wire, addr = self.sock.recvfrom(4096)
            except OSError:
                continue
            query = dns.message.from_wire(wire)
            name = query.question[0].name.to_text().rstrip(".")
            reply = DNS_CASES.get(name.split(".", 1)[0], _good)(query)
            if reply is not None:
                self.sock.sendto(reply, addr)

    def stop(self) -> None:
        self.running = False
        self.thread.join(timeout=2)
        self.sock.close()


def _answer(query: dns.message.Message, *records: str, rdtype: str = "A") -> bytes:
    response = dns.message.make_response(query)
    question = query.question[0]
    if question.rdtype == dns.rdatatype.A or rdtype != "A":
        response.answer.append(dns.rrset.from_text(question.name, 60, "IN", rdtype, *records))
    return response.to_wire()


def _good(query: dns.message.Message) -> bytes:
    return _answer(query, "127.0.0.1")


def _with_id(query: dns.message.Message, wire: bytes) -> bytes:
    return query.id.to_bytes(2, "big") + wire[2:]


DNS_CASES: dict[str, Any] = {
    "garbage": lambda q: _with_id(q, b"\x00\x00" + bytes(range(256))),
    "truncated-header": lambda q: q.id.to_bytes(2, "big") + b"\x81",
    "wrong-id": lambda q: (q.id ^ 0xFFFF).to_bytes(2, "big") + _good(q)[2:],
    "no-reply": lambda q: None,
    "servfail": lambda q: _with_id(
        q,
        dns.message.make_response(q).to_wire()[:3]
        + b"\x82"
        + dns.message.make_response(q).to_wire()[4:],
    ),
    "many-records": lambda q: _answer(q, *(f"127.0.{i // 250}.{i % 250 + 1}" for i in range(200))),
    "cname-to-itself": lambda q: _answer(q, q.question[0].name.to_text(), rdtype="CNAME"),
    "txt-control-chars": lambda q: _answer(q, '"\\000\\027[2J\\013evil"', rdtype="TXT"),
    "answer-for-other-name": lambda q: _with_id(
        q,
        _good(dns.message.make_query("other.test", "A")),
    ),
    "compression-loop": lambda q: _with_id(
        q, b"\x00\x00\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01\xc0\x0c"
    ),
}


@pytest.fixture(scope="module")
def hostile_dns() -> Iterator[HostileDNS]:
    server = HostileDNS()
    yield server
    server.stop()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", list(DNS_CASES))
def test_a_hostile_dns_answer_is_a_resolve_error_and_the_next_name_resolves(
    hostile_dns: HostileDNS, name: str
) -> None:
    resolver = Resolver([f"127.0.0.1:{hostile_dns.port}"], timeout=1.0, cache_ttl=0)
    try:
        found = resolver.addresses(f"{name}.test")
    except ResolveError as exc:
        assert str(exc)
    else:
        assert found and all(ipaddress.ip_address(a) for a in found)
    assert resolver.addresses("good.test") == ["127.0.0.1"]
