"""Name resolution through the configured DNS servers (`ORBWEAVER_DNS_SERVERS`).

The crawler and attribution must see the same answers the network policy checked, and in tests
those answers come from the simulated world's DNS server, never from the machine's resolver. One
class here serves both: `addresses()` for fetching, `query()` for any record type attribution needs.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import dns.exception
import dns.message
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver


class ResolveError(LookupError):
    """The name does not resolve (NXDOMAIN, no address, timeout), with a message for the log."""


class ResolverUnavailable(ResolveError):
    """The resolver gave no answer (SERVFAIL, timeout, network error): the name may well
    exist. A re-check that meets this has learnt nothing about the content (a DNS outage is not
    a removal), where an NXDOMAIN or an empty answer says the name is gone."""


@dataclass(frozen=True)
class Nameserver:
    ip: str
    port: int = 53


def parse_server(text: str) -> Nameserver:
    """`"127.0.0.53"`, `"127.0.0.53:5353"` or `"[::1]:5353"` as a nameserver."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return Nameserver(str(ipaddress.ip_address(host)), int(rest[1:]) if rest else 53)
    if text.count(":") == 1:
        host, port = text.split(":")
        return Nameserver(str(ipaddress.ip_address(host)), int(port))
    return Nameserver(str(ipaddress.ip_address(text)))


@functools.lru_cache(maxsize=65_536)
def is_ip_literal(host: str) -> bool:
    # cached: a fetch asks it of the same few hosts several times a hop (issue 15)
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


@functools.lru_cache(maxsize=65_536)
def normal_address(address: str) -> str:
    """An IP literal's canonical text (`[::1]` and `::0:1` both `::1`); ValueError otherwise."""
    return str(ipaddress.ip_address(address.strip("[]")))


class Resolver:
    """A caching stub resolver over explicit nameservers, or the system's when none are given.

    Answers are cached for `cache_ttl` seconds (bounded LRU) because a crawl asks for the same few
    hosts thousands of times a second; negative answers are cached too, briefly.
    """

    def __init__(
        self,
        servers: list[str] | None = None,
        *,
        timeout: float = 5.0,
        cache_ttl: float = 300.0,
        cache_size: int = 10_000,
    ) -> None:
        self.servers = [parse_server(s) for s in servers or []]
        self.timeout = timeout
        self.cache_ttl = cache_ttl
        self.cache_size = cache_size
        self._cache: OrderedDict[str, tuple[float, list[str] | ResolveError]] = OrderedDict()
        self._lock = threading.Lock()
        self._dns: dns.resolver.Resolver | None = None
        if self.servers:
            self._dns = dns.resolver.Resolver(configure=False)
            # Nameserver objects carry a port each (the world's DNS listens on a high port).
            self._dns.nameservers = [
                dns.nameserver.Do53Nameserver(s.ip, s.port) for s in self.servers
            ]
            self._dns.lifetime = timeout
            self._dns.timeout = timeout

    def query(self, name: str, rdtype: str) -> list[str]:
        """Raw answers of one record type (A, AAAA, CNAME, NS, MX, TXT...) as text."""
        if self._dns is None:
            resolver = dns.resolver.Resolver()
            resolver.lifetime = self.timeout
        else:
            resolver = self._dns
        try:
            answer = resolver.resolve(name, rdtype, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except (dns.exception.DNSException, OSError) as exc:
            raise ResolverUnavailable(f"DNS {rdtype} lookup of {name} failed: {exc}") from exc
        return [r.to_text() for r in answer]

    def addresses(self, host: str) -> list[str]:
        """Every IPv4 and IPv6 address `host` resolves to (an IP literal is its own answer)."""
        host = host.strip("[]").rstrip(".").lower()
        if is_ip_literal(host):
            return [normal_address(host)]
        cached = self._cached(host)
        if cached is not None:
            if isinstance(cached, ResolveError):
                raise type(cached)(str(cached))  # the same kind: unavailable stays unavailable
            return cached
        try:
            found = self._lookup(host)
        except ResolveError as exc:
            self._store(host, exc, ttl=min(self.cache_ttl, 5.0))
            raise
        if not found:
            error = ResolveError(f"{host} has no A or AAAA record")
            self._store(host, error, ttl=min(self.cache_ttl, 5.0))
            raise error
        self._store(host, found, ttl=self.cache_ttl)
        return found

    def _lookup(self, host: str) -> list[str]:
        if self._dns is None:
            try:
                infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
            except OSError as exc:
                kind = ResolverUnavailable if exc.errno == socket.EAI_AGAIN else ResolveError
                raise kind(f"cannot resolve {host}: {exc}") from exc
            return list(dict.fromkeys(str(info[4][0]) for info in infos))
        return self.query(host, "A") + self.query(host, "AAAA")

    def is_cached(self, host: str) -> bool:
        """True when `addresses(host)` would answer without a network round trip."""
        return self._cached(host.strip("[]").rstrip(".").lower()) is not None

    def _cached(self, host: str) -> list[str] | ResolveError | None:
        with self._lock:
            hit = self._cache.get(host)
            if hit is None:
                return None
            expires, value = hit
            if expires < time.monotonic():
                del self._cache[host]
                return None
            self._cache.move_to_end(host)
            return value

    def _store(self, host: str, value: list[str] | ResolveError, *, ttl: float) -> None:
        if ttl <= 0:
            return
        with self._lock:
            self._cache[host] = (time.monotonic() + ttl, value)
            self._cache.move_to_end(host)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
