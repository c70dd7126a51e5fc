"""Synchronous HTTP through the network policy, for every stage that fetches outside the crawl.

`GuardedClient` applies `NetworkPolicy` to a plain HTTP client (httpx): every hop's URL is
checked, its name resolved once through `Resolver`, every address checked, and the connection
made to the checked address (the name travels in the Host header and in TLS's SNI), so there is
no second lookup to rebind; bodies are capped while they stream, each hop ends within the
policy's timeout, and redirects are followed only hop by hop under the policy's limit.
The monitor's re-checks (`GuardedFetcher`), attribution's RDAP lookups and webhook delivery all
go through it. `.onion` URLs go through the Tor proxy, which resolves them itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from orbweaver.net.http11 import Http11Pool, HTTPError, Timeout
from orbweaver.net.policy import NetworkPolicy, PolicyError, Target
from orbweaver.net.resolver import ResolveError, Resolver, ResolverUnavailable, is_ip_literal


class FetchError(Exception):
    """No usable answer although the policy allowed the fetch: a transport failure, a timeout,
    a body over its cap. `status` is the HTTP status when a response had begun."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Reply:
    """One answer, its body read whole (under the cap) or not at all."""

    url: str  # the URL that answered, after any redirects followed
    status: int
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    body: bytes = b""
    # What was sent for this hop (a reference, not a copy): evidence records them for detections.
    request_headers: httpx.Headers | None = None

    @property
    def is_redirect(self) -> bool:
        return self.status in (301, 302, 303, 307, 308) and "location" in self.headers


class GuardedClient:
    """HTTP requests with the policy applied to every hop (see the module docstring).

    Raises PolicyError (refused), ResolveError (the name does not resolve) or FetchError; an
    HTTP error status is a `Reply`, not an exception. Safe to share between threads (the
    monitor checks from a pool); reusable after `close()`.
    """

    def __init__(
        self, policy: NetworkPolicy, resolver: Resolver, *, timeout: float | None = None
    ) -> None:
        self.policy = policy
        self.resolver = resolver
        self.timeout = policy.timeout if timeout is None else timeout
        self._clients: dict[str | None, httpx.Client] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            clients, self._clients = self._clients, {}
        for client in clients.values():
            client.close()

    def __enter__(self) -> GuardedClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _client(self, proxy: str | None) -> httpx.Client:
        with self._lock:
            client = self._clients.get(proxy)
            if client is None:
                # No proxy from the environment, no redirects behind the policy's back.
                # No keep-alive: every hop's connection is its own, so the watchdog that
                # ends a hop at its deadline (`_Watchdog`) sees the socket it must cut.
                client = httpx.Client(
                    timeout=self.timeout,
                    trust_env=False,
                    follow_redirects=False,
                    proxy=proxy,
                    limits=httpx.Limits(max_keepalive_connections=0),
                )
                self._clients[proxy] = client
            return client

    def request(
        self,
        method: str,
        url: str,
        *,
        kind: str = "page",
        max_bytes: int | None = None,
        headers: dict[str, str] | None = None,
        json: Any = None,
        follow_redirects: bool = True,
        read_body: bool = True,
    ) -> Reply:
        """`method url`; redirects followed (as GET after a 303, or after a 301/302 of a POST,
        as browsers do) only when `follow_redirects`. The body of a final 2xx answer is read
        under `max_bytes` (the policy's cap for `kind` by default) unless `read_body` is off;
        other answers come without their body."""
        cap = self.policy.max_bytes(kind) if max_bytes is None else max_bytes
        current, hops = url, 0
        while True:
            reply = self._hop(method, current, cap, headers, json, read_body)
            if not (follow_redirects and reply.is_redirect):
                return reply
            current = self.policy.redirect(current, reply.headers["location"], hops)
            hops += 1
            if reply.status == 303 or (reply.status in (301, 302) and method == "POST"):
                method, json = "GET", None

    def _hop(
        self,
        method: str,
        url: str,
        cap: int,
        headers: dict[str, str] | None,
        json: Any,
        read_body: bool,
    ) -> Reply:
        target = self.policy.target(url)
        proxy, request_url, extra, extensions = self._connection(target)
        sent = {"Accept-Encoding": "identity", **(headers or {}), **extra}
        deadline = time.monotonic() + self.timeout
        watchdog = _Watchdog(self.timeout)
        status: int | None = None  # kept when the deadline cuts a body already answered
        try:
            with (
                watchdog,
                self._client(proxy).stream(
                    method,
                    request_url,
                    headers=sent,
                    json=json,
                    extensions={**extensions, "trace": watchdog.trace},
                ) as resp,
            ):
                status = resp.status_code
                reply = Reply(
                    url, resp.status_code, resp.headers, request_headers=resp.request.headers
                )
                if read_body and 200 <= resp.status_code < 300:
                    reply.body = _read(resp, cap, deadline)
                return reply
        except httpx.HTTPError as exc:
            if watchdog.fired:
                raise FetchError("took longer than the policy's timeout", status) from exc
            raise FetchError(f"{type(exc).__name__}: {exc}", status) from exc

    def _connection(self, target: Target) -> tuple[str | None, str, dict[str, str], dict[str, Any]]:
        """What to ask the HTTP client for: (proxy, URL, headers, extensions). The clear web:
        no proxy and the pinned address. Tor: the URL itself through the proxy (which alone
        resolves `.onion`), the proxy's own name resolved here like every other."""
        if target.network != "clear":
            host = self.policy.proxy_host
            address = host if is_ip_literal(host) else self.resolver.addresses(host)[0]
            proxy = self.policy.pinned_proxy_url(address)
            return proxy, target.url.split("#", 1)[0], {}, {}
        pin = self.policy.pin(target, self.resolver.addresses(target.host))
        extensions = {"sni_hostname": pin.sni_hostname} if pin.sni_hostname else {}
        return None, pin.url, pin.headers, extensions


class _Watchdog:
    """Ends a hop at its deadline whatever the server does.

    httpx's timeouts are per read: a server that sends one header line a second, forever, never
    trips them (a hostile RDAP server or re-checked host held a thread for good). The client's
    trace hook hands over each socket the hop connects; a timer shuts them down at the deadline,
    which wakes the blocked read with an error."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.fired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def trace(self, event: str, info: dict[str, Any]) -> None:
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if isinstance(sock, socket.socket):
                with self._lock:
                    self._sockets.append(sock)
                    late = self.fired
                if late:
                    self._cut(sock)

    def __enter__(self) -> _Watchdog:
        self._timer = threading.Timer(self.seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            sockets = list(self._sockets)
        for sock in sockets:
            self._cut(sock)

    @staticmethod
    def _cut(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):  # already closed: nothing to cut
            sock.shutdown(socket.SHUT_RDWR)


def _read(resp: httpx.Response, cap: int, deadline: float) -> bytes:
    """The body, or FetchError once it passes `cap` bytes or the hop's time is up."""
    declared = resp.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise FetchError(f"larger than {cap} bytes", resp.status_code)
    chunks: list[bytes] = []
    size = 0
    for chunk in resp.iter_bytes():
        size += len(chunk)
        if size > cap:
            raise FetchError(f"larger than {cap} bytes", resp.status_code)
        if time.monotonic() > deadline:
            raise FetchError("took longer than the policy's timeout", resp.status_code)
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass
class FetchResult:
    """What one re-check saw: status and a digest of the bytes (the bytes are not kept)."""

    url: str
    status: int | None
    sha256: str | None = None
    body: bytes | None = None
    error: str | None = None
    # Nothing was learnt about the URL: our resolver could not answer (a DNS outage), so the
    # content may well be there. A re-check counts this neither as online nor as a miss.
    inconclusive: bool = False

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and self.sha256 is not None


class GuardedFetcher:
    """GET with the policy on every hop, for re-checks: the bytes' digest, and the bytes for
    perceptual checks."""

    def __init__(self, policy: NetworkPolicy, resolver: Resolver) -> None:
        self.policy = policy
        self.resolver = resolver
        self.client = GuardedClient(policy, resolver)

    def close(self) -> None:
        self.client.close()

    def get(self, url: str, kind: str = "media") -> FetchResult:
        try:
            reply = self.client.request("GET", url, kind=kind)
        except (PolicyError, ResolveError) as exc:
            unavailable = isinstance(exc, ResolverUnavailable)
            return FetchResult(url, None, error=str(exc), inconclusive=unavailable)
        except FetchError as exc:
            return FetchResult(url, exc.status, error=str(exc))
        if reply.status >= 300:
            return FetchResult(url, reply.status, error=f"HTTP {reply.status}")
        digest = hashlib.sha256(reply.body).hexdigest()
        return FetchResult(url, reply.status, digest, reply.body)


class AsyncGuardedClient:
    """`GuardedClient` for asyncio: the same policy on every hop (URL checked, name resolved
    once and every address checked, the connection pinned to the checked address, `.onion`
    through the Tor proxy only, bodies capped while they stream, a deadline per hop), with
    keep-alive pools and many requests in flight. For the crawl's media workers.

    Name lookups run in a thread (the resolver is synchronous and caches); IP literals do not.
    """

    def __init__(
        self,
        policy: NetworkPolicy,
        resolver: Resolver,
        *,
        timeout: float | None = None,
        max_connections: int = 512,
        user_agent: str = "",
    ) -> None:
        self.policy = policy
        self.resolver = resolver
        self.timeout = policy.timeout if timeout is None else timeout
        self.max_connections = max_connections
        self.user_agent = user_agent
        # Tor proxy hops only (httpx): httpcore's pool scans every connection for every queued
        # request at every event, so one pool of 256 connections cost ~10 ms of CPU a request
        # (profiled, issue 15): split into lanes of LANE_CONNECTIONS, a request takes the least
        # busy
        self.lanes = max(1, -(-max_connections // self.LANE_CONNECTIONS))
        self._busy = [0] * self.lanes
        self._ssl: Any = None  # one context for every lane: loading the CA store costs ~40 ms
        self._clients: dict[tuple[str | None, int], httpx.AsyncClient] = {}
        # the clear web goes through the lean HTTP/1.1 client (`net.http11`): httpx cost ~1 ms
        # of CPU a media in the workers; httpx stays for the Tor proxy's hops only
        self._pool: Http11Pool | None = None
        self._headers = [("Accept-Encoding", "identity")]
        self._sent: dict[str, httpx.Headers] = {}
        if user_agent:
            self._headers.append(("User-Agent", user_agent))

    LANE_CONNECTIONS = 8

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.aclose()
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.aclose()

    def _client(self, proxy: str | None, lane: int = 0) -> httpx.AsyncClient:
        client = self._clients.get((proxy, lane))
        if client is None:
            size = -(-self.max_connections // self.lanes)
            limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context(trust_env=False)
            client = httpx.AsyncClient(
                timeout=self.timeout,
                trust_env=False,
                follow_redirects=False,
                proxy=proxy,
                limits=limits,
                verify=self._ssl,
            )
            self._clients[(proxy, lane)] = client
        return client

    async def get(self, url: str, *, kind: str = "media") -> Reply:
        """GET `url`, redirects followed hop by hop under the policy; the body of a 2xx answer
        read under the cap for `kind`. PolicyError, ResolveError or FetchError as the sync
        client raises them."""
        import asyncio

        cap = self.policy.max_bytes(kind)
        current, hops = url, 0
        while True:
            try:
                async with asyncio.timeout(self.timeout):
                    reply = await self._hop(current, cap)
            except TimeoutError:
                raise FetchError("took longer than the policy's timeout") from None
            if not reply.is_redirect:
                return reply
            current = self.policy.redirect(current, reply.headers["location"], hops)
            hops += 1

    async def _addresses(self, host: str) -> list[str]:
        import asyncio

        if is_ip_literal(host) or self.resolver.is_cached(host):
            return self.resolver.addresses(host)  # no lookup: no thread hop
        return await asyncio.to_thread(self.resolver.addresses, host)

    def _lean(self) -> Http11Pool:
        if self._pool is None:
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context(trust_env=False)
            self._pool = Http11Pool(
                self._ssl,
                max_connections=self.max_connections,
                connect_timeout=self.timeout,
                read_timeout=None,  # the hop's deadline (`get`) bounds the answer already
            )
        return self._pool

    async def _hop(self, url: str, cap: int) -> Reply:
        target = self.policy.target(url)
        if target.network != "clear":
            return await self._proxied_hop(target, url, cap)
        pin = self.policy.pin(target, await self._addresses(target.host))
        sent = self._headers
        try:
            resp = await self._lean().get(
                scheme=target.scheme,
                address=pin.address,
                port=pin.port,
                host=target.netloc,
                path=target.path,
                headers=sent,
                cap=cap,
                tls_name=pin.sni_hostname,
            )
        except HTTPError as exc:
            if isinstance(exc, Timeout):
                raise FetchError("took longer than the policy's timeout", exc.status) from exc
            raise FetchError(str(exc), exc.status) from exc
        request_headers = self._sent.get(target.netloc)
        if request_headers is None:  # the same for every hop to one host: built once
            request_headers = httpx.Headers([("Host", target.netloc), *sent])
            if len(self._sent) >= 4096:
                self._sent.clear()
            self._sent[target.netloc] = request_headers
        return Reply(url, resp.status, httpx.Headers(resp.headers), resp.body, request_headers)

    async def _proxied_hop(self, target: Target, url: str, cap: int) -> Reply:
        """A hop through the Tor proxy (`.onion`): httpx, which speaks to the proxy; the
        proxy's own name resolved and checked here like every other."""
        headers = dict(self._headers)
        host = self.policy.proxy_host
        address = host if is_ip_literal(host) else (await self._addresses(host))[0]
        proxy = self.policy.pinned_proxy_url(address)
        request_url = target.url.split("#", 1)[0]
        busy = self._busy
        lane = busy.index(min(busy))
        busy[lane] += 1
        try:
            async with self._client(proxy, lane).stream(
                "GET", request_url, headers=headers
            ) as resp:
                reply = Reply(
                    url, resp.status_code, resp.headers, request_headers=resp.request.headers
                )
                if 200 <= resp.status_code < 300:
                    reply.body = await _aread(resp, cap)
                return reply
        except httpx.HTTPError as exc:
            raise FetchError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            busy[lane] -= 1


async def _aread(resp: httpx.Response, cap: int) -> bytes:
    declared = resp.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise FetchError(f"larger than {cap} bytes", resp.status_code)
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.aiter_bytes():
        size += len(chunk)
        if size > cap:
            raise FetchError(f"larger than {cap} bytes", resp.status_code)
        chunks.append(chunk)
    return b"".join(chunks)
