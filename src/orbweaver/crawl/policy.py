"""The network policy inside Scrapy: `orbweaver.net.NetworkPolicy` applied to every crawl fetch.

The decisions are the net layer's; this module only wires them into Scrapy and Twisted, twice:

* `PolicyMiddleware` checks the URL of every request, redirect hops included (Scrapy sends each
  hop back through the downloader middlewares): scheme, `.onion` routing through the Tor proxy,
  IP literals, the proxy's own host, and sets the size cap for the kind of resource;
* `GuardedResolver` is the reactor's resolver, so the addresses a connection uses are exactly the
  ones checked: every address a name resolves to must pass, or none is returned and no packet is
  sent (no second lookup for a DNS rebinding attacker to answer differently). The Tor proxy's
  host is looked up unchecked: the middleware never lets a crawled URL name it, so that lookup
  serves the proxy connection only.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import IgnoreRequest
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IHostnameResolver, IHostResolution
from twisted.internet.threads import deferToThreadPool
from zope.interface import implementer

from orbweaver.crawl.runtime import require_runtime
from orbweaver.net import (
    NetworkPolicy,
    PolicyError,
    ResolveError,
    Resolver,
    is_ip_literal,
    normalise_host,
)

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


def scrapy_settings(policy: NetworkPolicy) -> dict[str, Any]:
    """The Scrapy settings that enforce `policy`; `crawl.runner` composes them in."""
    return {
        "DOWNLOAD_TIMEOUT": policy.timeout,
        "DOWNLOAD_MAXSIZE": max(
            policy.page_max_bytes, policy.media_max_bytes, policy.archive_max_bytes
        ),
        "DOWNLOAD_WARNSIZE": 0,
        "REDIRECT_MAX_TIMES": policy.max_redirects,
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


class PolicyMiddleware:
    """Downloader middleware: every request and redirect hop passes the URL checks and gets its
    route (Tor proxy or none) and its size cap."""

    def __init__(self, policy: NetworkPolicy, crawler: Crawler) -> None:
        self.policy = policy
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PolicyMiddleware:
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


class RedirectLoopMiddleware:
    """Downloader middleware (before Scrapy's redirects, in response order): a redirect back to
    a URL of its own chain fails as a redirect loop (the request's errback counts it), instead
    of the loop's next hop vanishing in the duplicate filter unseen."""

    def process_response(
        self, request: Request, response: Any, spider: Spider | None = None
    ) -> Any:
        location = response.headers.get(b"Location") if 300 <= response.status < 400 else None
        if location:
            from urllib.parse import urljoin

            target = urljoin(request.url, location.decode("latin-1"))
            if target == request.url or target in request.meta.get("redirect_urls", ()):
                raise IgnoreRequest(f"redirect loop back to {target}")
        return response


@implementer(IHostResolution)
class _Resolution:
    def __init__(self, name: str) -> None:
        self.name = name

    def cancel(self) -> None:  # pragma: no cover - Twisted calls it only on aborted connects
        pass


@implementer(IHostnameResolver)
class GuardedResolver:
    """The reactor's name resolver: resolves through `orbweaver.net.Resolver` and returns only
    addresses the policy allows. If any address of a name is refused, none is returned: a name
    that points partly at an internal host is not fetched at all."""

    def __init__(self, reactor: Any, policy: NetworkPolicy, resolver: Resolver) -> None:
        self.reactor = reactor
        self.policy = policy
        self.resolver = resolver

    @classmethod
    def from_crawler(cls, crawler: Crawler, reactor: Any) -> GuardedResolver:
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
        host = normalise_host(hostName)
        trusted = self.policy.is_proxy_host(host)
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
        reason = self.policy.addresses_refusal(found)
        if reason is not None:
            logger.warning("policy refused %s: resolves to %s", host, reason)
            return []
        return found

    def _deliver(self, receiver: Any, host: str, port: int, found: list[str]) -> None:
        port = self.policy.connect_port(port)
        for address in found:
            if ":" in address:
                receiver.addressResolved(IPv6Address("TCP", address, port))
            else:
                receiver.addressResolved(IPv4Address("TCP", address, port))
        receiver.resolutionComplete()
