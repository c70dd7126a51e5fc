"""A DNS outage is not a removal: while our resolver gets no answer (SERVFAIL, timeout), a
re-check learns nothing (`unknown`), counts no miss and tries again a few minutes later; a name
that does not exist (NXDOMAIN) is still a miss. Before, a one-hour outage of the world's DNS
(the fault campaign's, tests/faults) confirmed every re-check due in it as a removal: found while
building the campaign, by reading the monitor against that fault."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import timedelta

import dns.message
import dns.rcode
import dns.rrset
import pytest
from sqlalchemy import select

from monitor.test_monitor import SETTINGS, Site, _noticed, _picture
from orbweaver.clock import SettableClock
from orbweaver.monitor import check_due
from orbweaver.net import GuardedFetcher, NetworkPolicy, ResolveError, Resolver, ResolverUnavailable
from orbweaver.store import Store
from orbweaver.store.models import Check, Notice


class Dns:
    """A UDP name server on loopback: `pics.test` is 127.0.0.1; `mode` = "servfail" or
    "silent" takes it down; any other name is NXDOMAIN."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.mode = "up"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                wire, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            if self.mode == "silent":
                continue
            query = dns.message.from_wire(wire)
            reply = dns.message.make_response(query)
            name = query.question[0].name.to_text()
            if self.mode == "servfail":
                reply.set_rcode(dns.rcode.SERVFAIL)
            elif name != "pics.test.":
                reply.set_rcode(dns.rcode.NXDOMAIN)
            elif query.question[0].rdtype == dns.rdatatype.A:
                reply.answer.append(dns.rrset.from_text(name, 60, "IN", "A", "127.0.0.1"))
            self.sock.sendto(reply.to_wire(), peer)


@pytest.fixture(scope="module")
def web() -> Iterator[Site]:
    s = Site()
    yield s
    s.server.shutdown()


@pytest.fixture(scope="module")
def nameserver() -> Iterator[Dns]:
    server = Dns()
    yield server
    server.sock.close()


def _fetcher(ns: Dns) -> GuardedFetcher:
    policy = NetworkPolicy(allow_networks=[__import__("ipaddress").ip_network("127.0.0.1/32")])
    return GuardedFetcher(policy, Resolver([f"127.0.0.1:{ns.port}"], timeout=0.5, cache_ttl=0))


@pytest.mark.parametrize("mode", ["servfail", "silent"])
def test_an_hour_without_dns_is_no_removal(
    store: Store,
    clock: SettableClock,
    web: Site,
    nameserver: Dns,
    mode: str,
) -> None:
    body = _picture(11)
    path = f"/dns-{mode}-{store.dialect}.jpg"
    web.content[path] = (200, body)
    url = f"http://pics.test:{web.server.server_port}{path}"
    nid = _noticed(store, clock, url, body)
    fetcher = _fetcher(nameserver)
    clock.advance(timedelta(hours=1))
    assert check_due(store, clock, fetcher, SETTINGS).online == 1
    nameserver.mode = mode
    try:
        for _ in range(12):  # an hour in five-minute steps, every check due in it
            clock.advance(timedelta(minutes=5))
            check_due(store, clock, fetcher, SETTINGS)
        clock.advance(timedelta(hours=6))
        assert check_due(store, clock, fetcher, SETTINGS).unknown == 1
    finally:
        nameserver.mode = "up"
    clock.advance(timedelta(minutes=5))
    assert check_due(store, clock, fetcher, SETTINGS).online == 1
    with store.session() as s:
        n = s.get_one(Notice, nid)
        assert n.status == "open" and n.miss_count == 0 and n.removed_at is None
        outcomes = [c.outcome for c in s.scalars(select(Check).where(Check.notice_id == nid))]
    assert outcomes[0] == "online" and outcomes[-1] == "online"
    assert set(outcomes[1:-1]) == {"unknown"}


def test_a_name_that_is_gone_is_still_a_miss(nameserver: Dns) -> None:
    resolver = Resolver([f"127.0.0.1:{nameserver.port}"], timeout=0.5, cache_ttl=30)
    with pytest.raises(ResolveError) as gone:
        resolver.addresses("gone.test")
    assert not isinstance(gone.value, ResolverUnavailable)
    nameserver.mode = "servfail"
    try:
        for _ in range(2):  # the second answer comes from the negative cache, same kind
            with pytest.raises(ResolverUnavailable):
                resolver.addresses("pics.test")
    finally:
        nameserver.mode = "up"
    result = _fetcher(nameserver).get("http://gone.test/x.jpg")
    assert not result.ok and not result.inconclusive
