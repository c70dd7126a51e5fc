"""An authoritative DNS server for the world's `.test` zone (UDP and TCP, via dnspython).

A records: each site's public address (the CDN's for fronted sites), each party's own domain, and
`mx.sim.test` (the SMTP host). MX: every party domain points at `mx.sim.test`. TXT on party
domains carries the abuse address. `.onion` and anything outside the zone get NXDOMAIN/REFUSED.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from orbweaver.sim.catalogue import Catalogue
from orbweaver.sim.net import INFRA

ZONE = "test."
TTL = 60


class Zone:
    """Name → records, built once from the catalogue (addresses never change during a run)."""

    def __init__(self, cat: Catalogue) -> None:
        self.a: dict[str, str] = {}
        self.mx: set[str] = set()
        self.txt: dict[str, str] = {}
        for site in cat.sites.values():
            if site.ip is not None:
                self.a[site.domain + "."] = site.ip
        for party in cat.parties:
            name = party.domain + "."
            self.a.setdefault(name, site_ip_or_infra(party))
            self.mx.add(name)
            self.txt[name] = f"abuse={party.abuse_email}"
        self.a["mx.sim.test."] = INFRA["smtp"]
        self.a["ns1.sim.test."] = INFRA["dns"]

    def answer(self, query: dns.message.Message) -> dns.message.Message:
        resp = dns.message.make_response(query)
        resp.flags |= dns.flags.AA
        if not query.question:
            resp.set_rcode(dns.rcode.FORMERR)
            return resp
        q = query.question[0]
        name = q.name.to_text().lower()
        if not name.endswith(ZONE):
            resp.flags &= ~dns.flags.AA
            resp.set_rcode(dns.rcode.REFUSED)
            return resp
        known = name in self.a or name in self.mx
        if not known:
            resp.set_rcode(dns.rcode.NXDOMAIN)
            return resp
        records = self._records(name, q.rdtype)
        for rdtype, values in records:
            resp.answer.append(dns.rrset.from_text_list(q.name, TTL, "IN", rdtype, values))
        return resp

    def _records(self, name: str, rdtype: Any) -> list[tuple[Any, list[str]]]:
        out: list[tuple[Any, list[str]]] = []
        if rdtype in (dns.rdatatype.A, dns.rdatatype.ANY) and name in self.a:
            out.append((dns.rdatatype.A, [self.a[name]]))
        if rdtype in (dns.rdatatype.MX, dns.rdatatype.ANY) and name in self.mx:
            out.append((dns.rdatatype.MX, ["10 mx.sim.test."]))
        if rdtype in (dns.rdatatype.TXT, dns.rdatatype.ANY) and name in self.txt:
            out.append((dns.rdatatype.TXT, [f'"{self.txt[name]}"']))
        if rdtype in (dns.rdatatype.NS, dns.rdatatype.ANY) and name == ZONE:
            out.append((dns.rdatatype.NS, ["ns1.sim.test."]))
        return out

    def reply_wire(self, wire: bytes, failing: str | None = None) -> bytes | None:
        """The answer to one query; while the DNS is down (`failing`): SERVFAIL, or nothing at
        all for `timeout`."""
        if failing == "timeout":
            return None
        try:
            query = dns.message.from_wire(wire)
        except Exception:
            return None
        if failing is not None:
            resp = dns.message.make_response(query)
            resp.set_rcode(dns.rcode.SERVFAIL)
            return resp.to_wire()
        return self.answer(query).to_wire()


def _up() -> str | None:
    return None


def site_ip_or_infra(party: object) -> str:
    sites = getattr(party, "sites", [])
    for site in sites:
        if site.ip is not None and site.domain == getattr(party, "domain", None):
            return str(site.ip)
    return INFRA["control"]


class UdpServer(asyncio.DatagramProtocol):
    def __init__(self, zone: Zone, failing: Callable[[], str | None] = _up) -> None:
        self.zone = zone
        self.failing = failing
        self.transport: asyncio.DatagramTransport | None = None
        self.queries = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queries += 1
        reply = self.zone.reply_wire(data, self.failing())
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


async def serve_tcp(
    zone: Zone,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    failing: Callable[[], str | None] = _up,
) -> None:
    """DNS over TCP: two-byte length prefix per message (RFC 7766)."""
    try:
        while True:
            size = struct.unpack("!H", await reader.readexactly(2))[0]
            wire = await reader.readexactly(size)
            mode = failing()
            reply = zone.reply_wire(wire, mode)
            if reply is None:
                if mode == "timeout":  # hold the connection, say nothing
                    await reader.read()
                return
            writer.write(struct.pack("!H", len(reply)) + reply)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        return
    finally:
        writer.close()
