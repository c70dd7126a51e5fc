"""The network policy: the one place that decides whether, where and how a URL may be fetched.

Decisions only: no socket, no HTTP client, no Scrapy or Twisted. Each fetcher applies them the
same way, hop by hop (the crawl's Scrapy glue in `crawl/policy.py`, the guarded synchronous
client in `net/fetch.py` that the monitor, RDAP lookups and webhooks use, and any later
asynchronous client):

1. `target(url)`: may this URL be fetched at all (scheme, IP literals), through which network
   and proxy (`.onion` only through the Tor proxy, the clear web never through one);
2. the name is resolved once, then `pin(target, addresses)`: every address must pass (a name
   that points partly at an internal host is not fetched at all) and the connection goes to
   the first one, so there is no second lookup for a DNS rebinding attacker to answer;
3. `max_bytes(kind)` and `timeout` while reading;
4. `redirect(url, location, hops)`: the next hop, which starts again at 1, or a refusal past
   `max_redirects`.

Private, loopback, link-local, multicast and reserved targets are refused unless the deployment
allows a range explicitly (`ORBWEAVER_CRAWL_ALLOW_NETWORKS`); the simulated world's loopback range
is allowed only that way. The Tor proxy is trusted only for the proxy connection: a clear-web
URL naming the proxy's host is refused, so its name never stands in for a crawled host.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from orbweaver.net.resolver import is_ip_literal, normal_address

if TYPE_CHECKING:
    from orbweaver.config import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

KINDS = ("page", "media", "archive")
DEFAULT_PORTS = {"http": 80, "https": 443}


class PolicyError(ValueError):
    """A fetch the policy refuses, with the reason as it should appear in the log."""


def normalise_host(host: str) -> str:
    """A host as the policy compares it: no brackets, no trailing dot, lower case."""
    return host.strip("[]").rstrip(".").lower()


@dataclass(frozen=True)
class Target:
    """One URL the policy accepted: where it goes and what a connection to it must carry."""

    url: str
    network: str  # "clear" or "tor"
    proxy: str | None  # the Tor proxy URL for "tor", None for the clear web
    scheme: str
    host: str  # normalised (see `normalise_host`)
    port: int  # the URL's port, or the scheme's default
    netloc: str  # host[:port] as written in the URL: the Host header
    path: str  # path and query ("/" at least); the fragment never travels


@dataclass(frozen=True)
class Pin:
    """One clear-web connection: the checked address and port it goes to; the request keeps
    the URL's name in its Host header and, for HTTPS, in SNI and certificate checks."""

    target: Target
    address: str
    port: int  # after the port map

    @property
    def url(self) -> str:
        """The target's URL with the checked address in place of the name (what a client that
        resolves by itself must be given, so that it cannot look the name up again)."""
        netloc = f"[{self.address}]" if ":" in self.address else self.address
        if self.port != DEFAULT_PORTS[self.target.scheme]:
            netloc += f":{self.port}"
        return f"{self.target.scheme}://{netloc}{self.target.path}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Host": self.target.netloc}

    @property
    def sni_hostname(self) -> str | None:
        """The name TLS must present and verify (None for plain HTTP or an IP literal)."""
        if self.target.scheme != "https" or is_ip_literal(self.target.host):
            return None
        return self.target.host


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
    _address_verdicts: dict[str, str | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> NetworkPolicy:
        """The policy the deployment configured (`ORBWEAVER_CRAWL_ALLOW_NETWORKS`, ...)."""
        nets = [ipaddress.ip_network(n, strict=False) for n in settings.crawl_allow_networks]
        values: dict[str, Any] = {
            "allow_networks": nets,
            "port_map": parse_port_map(settings.crawl_port_map),
            "tor_proxy": settings.tor_proxy,
            "timeout": settings.fetch_timeout_s,
            "media_max_bytes": settings.max_image_bytes,
        }
        values.update(overrides)
        return cls(**values)

    def allowing(self, *networks: str | IPNetwork) -> NetworkPolicy:
        """This policy with more ranges allowed (e.g. the addresses of the services a
        deployment configured itself, such as an internal RDAP server or webhook endpoint)."""
        extra = [ipaddress.ip_network(n, strict=False) for n in networks]
        return dataclasses.replace(self, allow_networks=[*self.allow_networks, *extra])

    @property
    def proxy_url(self) -> str:
        """The Tor HTTP proxy as a URL (`127.0.0.1:8118` is accepted too)."""
        if not self.tor_proxy:
            return ""
        return self.tor_proxy if "://" in self.tor_proxy else f"http://{self.tor_proxy}"

    @property
    def proxy_host(self) -> str:
        return normalise_host(urlsplit(self.proxy_url).hostname or "") if self.tor_proxy else ""

    def pinned_proxy_url(self, address: str) -> str:
        """The Tor proxy's URL with `address` (its host, resolved once) in place of its name: a
        client given it connects there without a lookup of its own. Not checked: the proxy is
        the deployment's own, and trusted for the proxy connection only."""
        parts = urlsplit(self.proxy_url)
        netloc = f"[{address}]" if ":" in address else address
        if parts.port is not None:
            netloc += f":{parts.port}"
        return f"{parts.scheme}://{netloc}"

    def is_proxy_host(self, host: str) -> bool:
        """True for the Tor proxy's own host: trusted for the proxy connection, and only there
        (`target` refuses it as the host of any clear-web URL)."""
        return bool(self.tor_proxy) and normalise_host(host) == self.proxy_host

    # -- addresses -------------------------------------------------------------------------

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

    def addresses_refusal(self, addresses: list[str]) -> str | None:
        """Why a name with these addresses may not be contacted: the first refused address
        (one is enough), or no address at all. None when every address may be contacted."""
        if not addresses:
            return "no address"
        for address in addresses:
            reason = self._address_verdict(address)
            if reason is not None:
                return reason
        return None

    def _address_verdict(self, address: str) -> str | None:
        # an address's verdict never changes under one policy: parsed and checked once (a
        # media worker pins thousands of hops a second to the same few addresses)
        reason = self._address_verdicts.get(address, "")
        if reason == "":
            reason = self.address_refusal(address)
            if len(self._address_verdicts) < 65_536:
                self._address_verdicts[address] = reason
        return reason

    def check_address(self, address: str) -> None:
        reason = self.address_refusal(address)
        if reason is not None:
            raise PolicyError(reason)

    # -- URLs ------------------------------------------------------------------------------

    def route(self, url: str) -> tuple[str, str | None]:
        """The network (`clear`/`tor`) and proxy for `url`, or PolicyError (see `target`)."""
        target = self.target(url)
        return target.network, target.proxy

    def target(self, url: str) -> Target:
        """Where `url` goes, or PolicyError.

        `.onion` goes through the Tor proxy and nowhere else; clear-web URLs never use a proxy
        (not even one from the environment) and never name the proxy's host. IP literals are
        checked here, names once resolved (`pin`).
        """
        try:
            parts = urlsplit(url)
            hostname = parts.hostname
            port = parts.port  # raises on a malformed port
        except ValueError as exc:
            raise PolicyError(f"malformed URL: {exc}") from exc
        if parts.scheme not in DEFAULT_PORTS:
            raise PolicyError(f"scheme {parts.scheme!r} is not fetched (http and https only)")
        if not hostname:
            raise PolicyError("URL has no host")
        host = normalise_host(hostname)
        if not host:
            raise PolicyError("URL has no host")
        network, proxy = "clear", None
        if host.endswith(".onion"):
            if not self.tor_proxy:
                raise PolicyError("an .onion URL needs ORBWEAVER_TOR_PROXY; not fetched")
            network, proxy = "tor", self.proxy_url
        elif self.is_proxy_host(host):
            raise PolicyError(f"{host} is the Tor proxy's host: only .onion URLs go there")
        elif is_ip_literal(host):
            self._check_literal(host)
        return Target(
            url=url,
            network=network,
            proxy=proxy,
            scheme=parts.scheme,
            host=host,
            port=port or DEFAULT_PORTS[parts.scheme],
            netloc=parts.netloc.rpartition("@")[2],
            path=(parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
        )

    def _check_literal(self, host: str) -> None:
        # an IP literal's verdict never changes: checked once per address, not per request
        reason = self._literal_verdicts.get(host, "")
        if reason == "":
            reason = self.address_refusal(host)
            if len(self._literal_verdicts) < 65_536:
                self._literal_verdicts[host] = reason
        if reason is not None:
            raise PolicyError(reason)

    def connect_port(self, port: int) -> int:
        """The port a connection to a URL's `port` goes to (the port map, else itself)."""
        return self.port_map.get(port, port)

    def pin(self, target: Target, addresses: list[str]) -> Pin:
        """The connection for a clear-web target whose host resolved to `addresses`, or
        PolicyError when any of them is refused."""
        if target.network != "clear":
            raise PolicyError(f"{target.url} goes through the {target.network} proxy: not pinned")
        reason = self.addresses_refusal(addresses)
        if reason is not None:
            if is_ip_literal(target.host):
                raise PolicyError(reason)
            raise PolicyError(f"{target.host} resolves to {reason}")
        return Pin(target, normal_address(addresses[0]), self.connect_port(target.port))

    def redirect(self, url: str, location: str, hops: int) -> str:
        """The URL a redirect from `url` leads to, after `hops` redirects already followed, or
        PolicyError past `max_redirects`. The new URL passes `target` like any other."""
        if hops >= self.max_redirects:
            raise PolicyError("too many redirects")
        return urljoin(url, location)

    def max_bytes(self, kind: str) -> int:
        return {
            "page": self.page_max_bytes,
            "media": self.media_max_bytes,
            "archive": self.archive_max_bytes,
        }.get(kind, self.page_max_bytes)


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
