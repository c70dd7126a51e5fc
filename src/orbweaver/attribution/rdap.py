"""RDAP lookups with a configurable RFC 9224 bootstrap, parsed by whoisit.

whoisit's own query path refuses private and loopback addresses (its bootstrap raises on
`is_private`), which is exactly where the simulated world lives, and it keeps one global
bootstrap per process. So the bootstrap match (longest prefix, ASN range, longest DNS label
suffix) is done here, and whoisit's parser turns each response into entities, roles, names and
e-mail addresses.

The JSON is fetched through the network policy (`orbweaver.net.GuardedClient`): an RDAP answer
is attacker-influenced (a registry redirects to another, a hostile one anywhere), so every hop's
address is checked and pinned, redirects are limited, and a body is read under a cap.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any

from whoisit.bootstrap import _BootstrapWrapper
from whoisit.parser import parse

from orbweaver.net import FetchError, GuardedClient, PolicyError, ResolveError
from orbweaver.untrusted import one_line

FILES = ("ipv4.json", "asn.json", "dns.json")
# An RDAP answer is a few kilobytes; registries' largest (a network with many entities) stay
# well under this.
MAX_BYTES = 4 * 1024 * 1024


class RdapError(LookupError):
    """No RDAP service for the resource, or the service failed."""


@dataclass
class Entity:
    """A registrant, registrar or similar, with its abuse contact if it published one."""

    handle: str
    name: str
    abuse_email: str | None = None
    domain: str | None = None


@dataclass
class IpNetwork:
    handle: str
    cidr: str
    asn: int | None
    owner: Entity | None
    country: str = ""  # ISO 3166 alpha-2 as the registry states it; "" when absent or "ZZ"


@dataclass
class DomainInfo:
    name: str
    registrar: Entity | None
    registrant: Entity | None = None


@dataclass
class Bootstrap:
    ipv4: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, list[str]]] = field(
        default_factory=list
    )
    asn: list[tuple[int, int, list[str]]] = field(default_factory=list)
    dns: dict[str, list[str]] = field(default_factory=dict)


def _parse_bootstrap(files: dict[str, Any]) -> Bootstrap:
    boot = Bootstrap()
    for prefixes, urls in files["ipv4.json"]["services"]:
        for p in prefixes:
            boot.ipv4.append((ipaddress.ip_network(p, strict=False), urls))
    for ranges, urls in files["asn.json"]["services"]:
        for r in ranges:
            lo, _, hi = r.partition("-")
            boot.asn.append((int(lo), int(hi or lo), urls))
    for tlds, urls in files["dns.json"]["services"]:
        for tld in tlds:
            boot.dns[tld.lower()] = urls
    boot.ipv4.sort(key=lambda entry: -entry[0].prefixlen)
    return boot


def _join(base: str, kind: str, value: str) -> str:
    return base.rstrip("/") + f"/{kind}/{value}"


class RdapClient:
    """RDAP over HTTP for IPs, ASNs and domains through a guarded client; whoisit parses the
    answers. The client's timeout and policy apply to every request."""

    def __init__(
        self, bootstrap_url: str, client: GuardedClient, max_bytes: int = MAX_BYTES
    ) -> None:
        self.bootstrap_url = bootstrap_url.rstrip("/") + "/"
        self.http = client
        self.max_bytes = max_bytes
        self._boot: Bootstrap | None = None
        self._wrapper = _BootstrapWrapper()

    def close(self) -> None:
        self.http.close()

    def bootstrap(self) -> Bootstrap:
        if self._boot is None:
            files = {}
            for name in FILES:
                files[name] = self._get(self.bootstrap_url + name)
            self._boot = _parse_bootstrap(files)
        return self._boot

    def _get(self, url: str) -> dict[str, Any]:
        try:
            reply = self.http.request(
                "GET", url, headers={"Accept": "application/rdap+json"}, max_bytes=self.max_bytes
            )
        except (PolicyError, ResolveError, FetchError) as exc:
            raise RdapError(f"RDAP {url}: {exc}") from exc
        if reply.status != 200:
            raise RdapError(f"RDAP {url}: HTTP {reply.status}")
        try:
            data = json.loads(reply.body)
        except (ValueError, RecursionError) as exc:  # RecursionError: [[[[... nested deep
            raise RdapError(f"RDAP {url}: not JSON") from exc
        if not isinstance(data, dict):
            raise RdapError(f"RDAP {url}: not a JSON object")
        return data

    def _parse(self, kind: str, value: str, raw: dict[str, Any]) -> dict[str, Any]:
        """whoisit's reading of an answer; RdapError for anything it cannot read. An RDAP
        answer is the registry's (or an attacker's) JSON: whoisit raised AttributeError and
        TypeError on entities that are not objects, past every handler."""
        try:
            parsed: dict[str, Any] = parse(self._wrapper, kind, value, raw)
        except Exception as exc:
            raise RdapError(
                f"RDAP {kind} {value}: unreadable answer ({type(exc).__name__})"
            ) from exc
        return parsed

    def ip(self, address: str) -> IpNetwork:
        ip = ipaddress.ip_address(address)
        base = next((urls[0] for net, urls in self.bootstrap().ipv4 if ip in net), None)
        if base is None:
            raise RdapError(f"no RDAP service for {address}")
        raw = self._get(_join(base, "ip", address))
        parsed = self._parse("ip", address, raw)
        try:
            origin = raw.get("arin_originas0_originautnums") or []
            cidr = one_line(parsed.get("network") or f"{raw.get('startAddress')}/32", max_length=64)
            return IpNetwork(
                handle=one_line(parsed.get("handle") or raw.get("handle") or "", max_length=100),
                cidr=cidr,
                asn=int(origin[0]) if isinstance(origin, list) and origin else None,
                owner=_owner(parsed, ("registrant", "administrative", "technical")),
                country=country_code(raw.get("country")),
            )
        except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
            raise RdapError(f"RDAP ip {address}: unreadable answer ({exc})") from exc

    def domain(self, name: str) -> DomainInfo:
        labels = name.lower().rstrip(".").split(".")
        base = None
        for i in range(len(labels)):
            urls = self.bootstrap().dns.get(".".join(labels[i:]))
            if urls:
                base = urls[0]
                break
        if base is None:
            raise RdapError(f"no RDAP service for {name}")
        raw = self._get(_join(base, "domain", name))
        parsed = self._parse("domain", name, raw)
        try:
            return DomainInfo(
                name=name,
                registrar=_owner(parsed, ("registrar",)),
                registrant=_owner(parsed, ("registrant",)),
            )
        except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
            raise RdapError(f"RDAP domain {name}: unreadable answer ({exc})") from exc


def _owner(parsed: dict[str, Any], roles: tuple[str, ...]) -> Entity | None:
    """The first entity in `roles`, with the abuse e-mail nested under it (or anywhere)."""
    entities: dict[str, list[dict[str, Any]]] = parsed.get("entities") or {}
    owner = next((entities[r][0] for r in roles if entities.get(r)), None)
    if owner is None:
        return None
    handle = one_line(owner.get("handle", ""), max_length=100)
    abuse = [e for e in entities.get("abuse", []) if e.get("parent_handle") == owner.get("handle")]
    email = next((e.get("email") for e in abuse if e.get("email")), None) or owner.get("email")
    email = email if isinstance(email, str) and "@" in email else None
    # the name becomes a provider's name: in mail subjects, letters, charts, CSV
    name = one_line(owner.get("name") or owner.get("organisation") or handle, max_length=200)
    domain = email.split("@", 1)[1].lower() if email else None
    return Entity(handle=handle, name=name, abuse_email=email, domain=domain)


def country_code(value: object) -> str:
    """An RDAP `country` as two upper-case letters, else "" (absent, malformed, or "ZZ",
    which registries use for unknown): untrusted text never reaches a report as a country."""
    if not isinstance(value, str):
        return ""
    code = value.strip().upper()
    if len(code) != 2 or not code.isascii() or not code.isalpha() or code == "ZZ":
        return ""
    return code
