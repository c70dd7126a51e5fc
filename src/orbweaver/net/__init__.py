"""The network layer (docs/architecture.md): what every stage fetches through.

- `NetworkPolicy` decides, with no I/O: which URLs may be fetched and through which network
  (`.onion` only through the Tor proxy), which addresses may be contacted (the SSRF guard) and
  which one a connection is pinned to, size caps per kind, timeouts, the redirect limit;
- `Resolver` resolves names through the configured DNS servers, once per hop, so the address
  checked is the address connected to;
- `GuardedClient` (any request: RDAP lookups, webhooks) and `GuardedFetcher` (the monitor's
  re-checks) apply the policy to a synchronous HTTP client, every redirect hop included;
- `AsyncGuardedClient` does the same on asyncio for the crawl's media workers, over the lean
  HTTP/1.1 client of `net.http11` (httpx only for hops through the Tor proxy).

The crawl applies the same policy inside Scrapy (`crawl/policy.py`). Nothing here imports Scrapy
or Twisted; other stages import only from `orbweaver.net`.
"""

from orbweaver.net.fetch import (
    AsyncGuardedClient,
    FetchError,
    FetchResult,
    GuardedClient,
    GuardedFetcher,
    Reply,
)
from orbweaver.net.policy import (
    KINDS,
    NetworkPolicy,
    Pin,
    PolicyError,
    Target,
    normalise_host,
    parse_port_map,
)
from orbweaver.net.resolver import (
    Nameserver,
    ResolveError,
    Resolver,
    ResolverUnavailable,
    is_ip_literal,
    parse_server,
)

__all__ = [
    "KINDS",
    "AsyncGuardedClient",
    "FetchError",
    "FetchResult",
    "GuardedClient",
    "GuardedFetcher",
    "Nameserver",
    "NetworkPolicy",
    "Pin",
    "PolicyError",
    "Reply",
    "ResolveError",
    "Resolver",
    "ResolverUnavailable",
    "Target",
    "is_ip_literal",
    "normalise_host",
    "parse_port_map",
    "parse_server",
]
