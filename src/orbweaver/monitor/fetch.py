"""Re-check fetches through the crawl's network policy, outside Scrapy.

The decision (scheme, `.onion` routing, which addresses may be contacted, size cap, timeout,
redirect limit) is `orbweaver.crawl.policy.NetworkPolicy`'s and names resolve through the crawl's
`Resolver`; this module only applies them to a plain HTTP client: every hop's name is resolved
once, every address checked, and the connection made to the checked address (the name travels
in the Host header), so there is no second lookup to rebind.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from orbweaver.crawl.policy import NetworkPolicy, PolicyError
from orbweaver.crawl.resolver import ResolveError, Resolver


@dataclass
class FetchResult:
    """What one re-check saw: status and a digest of the bytes (the bytes are not kept)."""

    url: str
    status: int | None
    sha256: str | None = None
    body: bytes | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and self.sha256 is not None


class GuardedFetcher:
    """GET with the crawl policy's guard on every hop; keeps bodies only for perceptual checks."""

    def __init__(self, policy: NetworkPolicy, resolver: Resolver) -> None:
        self.policy = policy
        self.resolver = resolver
        self.clear = httpx.Client(timeout=policy.timeout, trust_env=False)
        self.tor = (
            httpx.Client(timeout=policy.timeout, trust_env=False, proxy=policy.proxy_url)
            if policy.tor_proxy
            else None
        )

    def close(self) -> None:
        self.clear.close()
        if self.tor is not None:
            self.tor.close()

    def get(self, url: str, kind: str = "media") -> FetchResult:
        current = url
        for _ in range(self.policy.max_redirects + 1):
            try:
                result, location = self._hop(current, kind)
            except (PolicyError, ResolveError) as exc:
                return FetchResult(url, None, error=str(exc))
            except httpx.HTTPError as exc:
                return FetchResult(url, None, error=f"{type(exc).__name__}: {exc}")
            if location is None:
                return result
            current = urljoin(current, location)
        return FetchResult(url, None, error="too many redirects")

    def _hop(self, url: str, kind: str) -> tuple[FetchResult, str | None]:
        network, _proxy = self.policy.route(url)
        parts = urlsplit(url)
        host = parts.hostname or ""
        if network == "tor":
            assert self.tor is not None
            client, target, headers = self.tor, url, {}
        else:
            addresses = self.resolver.addresses(host)
            for address in addresses:
                self.policy.check_address(address)
            ip = addresses[0]
            netloc = f"[{ip}]" if ":" in ip else ip
            default = 443 if parts.scheme == "https" else 80
            port = self.policy.port_map.get(parts.port or default, parts.port or default)
            if port != default:
                netloc += f":{port}"
            target = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
            headers = {"Host": parts.netloc}
            client = self.clear
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        with client.stream("GET", target, headers=headers, extensions=extensions) as resp:
            if resp.is_redirect and "location" in resp.headers:
                return FetchResult(url, resp.status_code), resp.headers["location"]
            if resp.status_code >= 300:
                return FetchResult(url, resp.status_code, error=f"HTTP {resp.status_code}"), None
            return self._read(url, resp, self.policy.max_bytes(kind)), None

    @staticmethod
    def _read(url: str, resp: httpx.Response, cap: int) -> FetchResult:
        digest = hashlib.sha256()
        chunks: list[bytes] = []
        size = 0
        for chunk in resp.iter_bytes():
            size += len(chunk)
            if size > cap:
                return FetchResult(url, resp.status_code, error=f"larger than {cap} bytes")
            digest.update(chunk)
            chunks.append(chunk)
        return FetchResult(url, resp.status_code, digest.hexdigest(), b"".join(chunks))
