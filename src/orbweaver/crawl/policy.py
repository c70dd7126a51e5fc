"""The network policy: the one place that decides whether, where and how a URL may be fetched.

Every fetch of the crawler (and of the monitor, which reuses it) passes here twice:

* `PolicyMiddleware` checks the URL of every request, redirect hops included (Scrapy sends each
  hop back through the downloader middlewares): scheme, `.onion` routing through the Tor proxy,
  IP literals, and sets the size cap for the kind of resource;
* `GuardedResolver` is the reactor's resolver, so the addresses a connection uses are exactly the
  ones checked: every address a name resolves to must pass, or none is returned and no packet is
  sent (no second lookup for a DNS rebinding attacker to answer differently).

Private, loopback, link-local, multicast and reserved targets are refused unless the deployment
allows a range explicitly (`ORBWEAVER_CRAWL_ALLOW_NETWORKS`); the simulated world's loopback range
is allowed only that way.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy.exceptions import IgnoreRequest
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IHostnameResolver, IHostResolution
from twisted.internet.threads import deferToThreadPool
from zope.interface import implementer

from orbweaver.crawl.resolver import ResolveError, Resolver, is_ip_literal

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler

    from orbweaver.config import Settings

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

KINDS = ("page", "media", "archive")


class PolicyError(ValueError):
    """A fetch the policy refuses, with the reason as it should appear in the log."""


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address hidden in an IPv4-mapped, 6to4 or Teredo IPv6 address, if any.

    Without this, `::ffff:10.0.0.1` would pass as "global IPv6" and reach a private host.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip.teredo is not None:
            return ip.teredo[1]
    return None


@dataclass
class NetworkPolicy:
    """Limits and the SSRF guard for every fetch; built from settings, shared by all stages."""

    allow_networks: list[IPNetwork] = field(default_factory=list)
    tor_proxy: str = ""
    page_max_bytes: int = 8 * 1024 * 1024
    media_max_bytes: int = 64 * 1024 * 1024
    archive_max_bytes: int = 256 * 1024 * 1024
    timeout: float = 30.0
    max_redirects: int = 5
    # Connect to another port than the URL's (e.g. {80: 44353}): only for a simulated internet
    # whose sites share one high port; URLs, Host headers and sightings keep the real port.
    port_map: dict[int, int] = field(default_factory=dict)
    _literal_verdicts: dict[str, str | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> NetworkPolicy:
        """The policy the deployment configured (`ORBWEAVER_CRAWL_ALLOW_NETWORKS`, ...)."""
        nets = [ipaddress.ip_network(n, strict=False) for n in settings.crawl_allow_networks]
        values: dict[str, Any] = {
            "allow_networks": nets,
            "port_map": parse_port_map(os.environ.get("ORBWEAVER_CRAWL_PORT_MAP", "")),
            "tor_proxy": settings.tor_proxy,
            "media_max_bytes": settings.max_image_bytes,
        }
        values.update(overrides)
        return cls(**values)

    @property
    def proxy_url(self) -> str:
        """The Tor HTTP proxy as a URL (`127.0.0.1:8118` is accepted too)."""
        if not self.tor_proxy:
            return ""
        return self.tor_proxy if "://" in self.tor_proxy else f"http://{self.tor_proxy}"

    @property
    def proxy_host(self) -> str:
        return (urlsplit(self.proxy_url).hostname or "") if self.tor_proxy else ""

    def address_refusal(self, address: str) -> str | None:
        """Why the address may not be contacted, or None when it may. Opens no socket."""
        try:
            ip = ipaddress.ip_address(address.strip("[]").split("%")[0])
        except ValueError:
            return f"{address!r} is not an IP address"
        candidates: list[IPAddress] = [ip]
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            candidates.append(embedded)
        for candidate in candidates:
            if any(
                candidate in net for net in self.allow_networks if net.version == candidate.version
            ):
                return None
        for candidate in candidates:
            kind = _special_kind(candidate)
            if kind is not None:
                shown = f"{ip} ({candidate})" if candidate is not ip else str(ip)
                return f"{shown} is {kind} and outside ORBWEAVER_CRAWL_ALLOW_NETWORKS"
        return None

    def check_address(self, address: str) -> None:
        reason = self.address_refusal(address)
        if reason is not None:
            raise PolicyError(reason)

    def route(self, url: str) -> tuple[str, str | None]:
        """The network (`clear`/`tor`) and proxy for `url`, or PolicyError.

        `.onion` goes through the Tor proxy and nowhere else; clear-web URLs never use a proxy
        (not even one from the environment). IP literals are checked here, names at resolution.
        """
        try:
            parts = urlsplit(url)
            host = parts.hostname
            _ = parts.port  # raises on a malformed port
        except ValueError as exc:
            raise PolicyError(f"malformed URL: {exc}") from exc
        if parts.scheme not in ("http", "https"):
            raise PolicyError(f"scheme {parts.scheme!r} is not fetched (http and https only)")
        if not host:
            raise PolicyError("URL has no host")
        if host.endswith(".onion"):
            if not self.tor_proxy:
                raise PolicyError("an .onion URL needs ORBWEAVER_TOR_PROXY; not fetched")
            return "tor", self.proxy_url
        if is_ip_literal(host):
            # an IP literal's verdict never changes: checked once per address, not per request
            reason = self._literal_verdicts.get(host, "")
            if reason == "":
                reason = self.address_refusal(host)
                if len(self._literal_verdicts) < 65_536:
                    self._literal_verdicts[host] = reason
            if reason is not None:
                raise PolicyError(reason)
        return "clear", None

    def max_bytes(self, kind: str) -> int:
        return {
            "page": self.page_max_bytes,
            "media": self.media_max_bytes,
            "archive": self.archive_max_bytes,
        }.get(kind, self.page_max_bytes)

    def scrapy_settings(self) -> dict[str, Any]:
        """The Scrapy settings that enforce this policy; `crawl.settings` composes them in."""
        return {
            "DOWNLOAD_TIMEOUT": self.timeout,
            "DOWNLOAD_MAXSIZE": max(
                self.page_max_bytes, self.media_max_bytes, self.archive_max_bytes
            ),
            "DOWNLOAD_WARNSIZE": 0,
            "REDIRECT_MAX_TIMES": self.max_redirects,
            "METAREFRESH_MAXDELAY": 0,
            "DNS_TIMEOUT": 10,
            "TWISTED_DNS_RESOLVER": "orbweaver.crawl.policy.GuardedResolver",
            "ROBOTSTXT_OBEY": False,
            "TELNETCONSOLE_ENABLED": False,
            "HTTPCACHE_ENABLED": False,
            "COOKIES_ENABLED": False,
            # HTTP(S) only, through a pool sized for the slots; no other scheme can be fetched
            "DOWNLOAD_HANDLERS": {
                "http": "orbweaver.crawl.download.PooledHTTPDownloadHandler",
                "https": "orbweaver.crawl.download.PooledHTTPDownloadHandler",
                "data": None,
                "file": None,
                "s3": None,
                "ftp": None,
            },
        }


def parse_port_map(text: str) -> dict[int, int]:
    """`"80=44353,443=44354"` → {80: 44353, 443: 44354} (`ORBWEAVER_CRAWL_PORT_MAP`)."""
    mapping: dict[int, int] = {}
    for part in text.split(","):
        if part.strip():
            src, _, dst = part.partition("=")
            mapping[int(src)] = int(dst)
    return mapping


def _special_kind(ip: IPAddress) -> str | None:
    """A name for the kind of non-public address `ip` is, or None for a public unicast one."""
    checks = (
        ("is_unspecified", "unspecified"),
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_private", "private"),
        ("is_reserved", "reserved"),
    )
    for attr, name in checks:
        if getattr(ip, attr):
            return name
    if not ip.is_global:
        return "not globally routable"
    return None


class PolicyMiddleware:
    """Downloader middleware: every request and redirect hop passes the URL checks and gets its
    route (Tor proxy or none) and its size cap."""

    def __init__(self, policy: NetworkPolicy, crawler: Crawler) -> None:
        self.policy = policy
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PolicyMiddleware:
        from orbweaver.crawl.runtime import require_runtime

        return cls(require_runtime(crawler).policy, crawler)

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        try:
            network, proxy = self.policy.route(request.url)
        except PolicyError as exc:
            if self.crawler.stats is not None:
                self.crawler.stats.inc_value("orbweaver/policy_refused")
            logger.warning("policy refused %s: %s", request.url, exc)
            raise IgnoreRequest(f"policy refused: {exc}") from exc
        request.meta["proxy"] = proxy
        request.meta["network"] = network
        kind = request.meta.get("kind", "page")
        request.meta.setdefault("download_maxsize", self.policy.max_bytes(kind))


@implementer(IHostResolution)
class _Resolution:
    def __init__(self, name: str) -> None:
        self.name = name

    def cancel(self) -> None:  # pragma: no cover - Twisted calls it only on aborted connects
        pass


@implementer(IHostnameResolver)
class GuardedResolver:
    """The reactor's name resolver: resolves through `crawl.resolver.Resolver` and returns only
    addresses the policy allows. If any address of a name is refused, none is returned: a name
    that points partly at an internal host is not fetched at all."""

    def __init__(self, reactor: Any, policy: NetworkPolicy, resolver: Resolver) -> None:
        self.reactor = reactor
        self.policy = policy
        self.resolver = resolver

    @classmethod
    def from_crawler(cls, crawler: Crawler, reactor: Any) -> GuardedResolver:
        from orbweaver.crawl.runtime import require_runtime

        runtime = require_runtime(crawler)
        return cls(reactor, runtime.policy, runtime.resolver)

    def install_on_reactor(self) -> None:
        self.reactor.installNameResolver(self)

    def resolveHostName(
        self,
        resolutionReceiver: Any,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Any = None,
        transportSemantics: str = "TCP",
    ) -> Any:
        resolution = _Resolution(hostName)
        resolutionReceiver.resolutionBegan(resolution)
        host = hostName.strip("[]").rstrip(".").lower()
        trusted = bool(host) and host == self.policy.proxy_host
        if host.endswith(".onion"):
            logger.warning("policy refused resolving %s: .onion names never go to DNS", host)
            resolutionReceiver.resolutionComplete()
            return resolution
        if is_ip_literal(host) or self.resolver.is_cached(host):
            self._deliver(resolutionReceiver, host, portNumber, self._lookup(host, trusted))
            return resolution
        d = deferToThreadPool(
            self.reactor, self.reactor.getThreadPool(), self._lookup, host, trusted
        )
        d.addCallback(lambda found: self._deliver(resolutionReceiver, host, portNumber, found))
        d.addErrback(self._failed, resolutionReceiver, host)
        return resolution

    @staticmethod
    def _failed(failure: Any, receiver: Any, host: str) -> None:
        logger.warning("cannot resolve %s: %s", host, failure.getErrorMessage())
        receiver.resolutionComplete()

    def _lookup(self, host: str, trusted: bool) -> list[str]:
        """Resolved and checked addresses; [] (logged) when the name fails or any is refused."""
        try:
            found = self.resolver.addresses(host)
        except ResolveError as exc:
            logger.warning("cannot resolve %s: %s", host, exc)
            return []
        if trusted:
            return found
        for address in found:
            reason = self.policy.address_refusal(address)
            if reason is not None:
                logger.warning("policy refused %s: resolves to %s", host, reason)
                return []
        return found

    def _deliver(self, receiver: Any, host: str, port: int, found: list[str]) -> None:
        port = self.policy.port_map.get(port, port)
        for address in found:
            if ":" in address:
                receiver.addressResolved(IPv6Address("TCP", address, port))
            else:
                receiver.addressResolved(IPv4Address("TCP", address, port))
        receiver.resolutionComplete()
