"""The media workers' lean HTTP/1.1 client (`net.http11`, issue 15): bodies by length, chunks
or the connection's end; caps enforced while reading; keep-alive reuse; deadlines; and, through
`AsyncGuardedClient`, redirects to refused addresses never connected to."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from crawl.loopback import LoopbackDNS
from orbweaver.net import AsyncGuardedClient, FetchError, NetworkPolicy, PolicyError, Resolver
from orbweaver.net.http11 import BodyTooLarge, Http11Pool, HTTPError, Timeout

Answer = Callable[[int, bytes], Awaitable[bytes | None]]  # (request number, head) -> raw answer


class Raw:
    """A loopback server answering each request head with raw bytes (None: hang up)."""

    def __init__(self, answer: Answer, host: str = "127.0.0.1", *, close_after: bool = False):
        self.answer = answer
        self.host = host
        self.close_after = close_after
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> Raw:
        self.server = await asyncio.start_server(self._serve, self.host, 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                self.requests.append(head)
                out = await self.answer(len(self.requests), head)
                if out is None:
                    return
                writer.write(out)
                await writer.drain()
                if self.close_after:
                    return
        finally:
            writer.close()


def fixed(raw: bytes) -> Answer:
    async def answer(n: int, head: bytes) -> bytes:
        return raw

    return answer


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(scenario())  # type: ignore[arg-type]


async def fetch(pool: Http11Pool, server: Raw, path: str = "/a", cap: int = 1000) -> Any:
    return await pool.get(
        scheme="http",
        address="127.0.0.1",
        port=server.port,
        host="site.test",
        path=path,
        headers=[("User-Agent", "t")],
        cap=cap,
    )


def test_request_carries_host_and_headers_and_reads_a_length_body() -> None:
    async def scenario() -> None:
        async with Raw(fixed(OK)) as server:
            pool = Http11Pool()
            resp = await fetch(pool, server, "/p?q=1")
            await pool.aclose()
        assert (resp.status, resp.body) == (200, b"hello")
        assert (b"Content-Length", b"5") in resp.headers
        head = server.requests[0]
        assert head.startswith(b"GET /p?q=1 HTTP/1.1\r\nHost: site.test\r\n")
        assert b"User-Agent: t\r\n" in head

    run(scenario)


def test_chunked_body_with_extensions_and_trailers() -> None:
    raw = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3;ext=1\r\nabc\r\n"
        b"A\r\n0123456789\r\n"
        b"0\r\nX-Trailer: 1\r\n\r\n"
    )

    async def scenario() -> None:
        async with Raw(fixed(raw)) as server:
            pool = Http11Pool()
            first = await fetch(pool, server)
            second = await fetch(pool, server)  # the connection survived the chunked body
            await pool.aclose()
        assert first.body == second.body == b"abc0123456789"
        assert server.connections == 1 and second.reused

    run(scenario)


@pytest.mark.parametrize(
    "raw",
    [
        # declared over the cap: refused before reading (the body never comes)
        b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n",
        # chunks past the cap
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"200\r\n" + b"x" * 512 + b"\r\n"
        b"200\r\n" + b"x" * 512 + b"\r\n0\r\n\r\n",
        # delimited by the connection's end, past the cap
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"x" * 2000,
    ],
    ids=["declared", "chunked", "until-close"],
)
def test_bodies_over_the_cap_are_refused(raw: bytes) -> None:
    async def scenario() -> None:
        async with Raw(fixed(raw), close_after=b"close" in raw) as server:
            pool = Http11Pool(read_timeout=30)
            with pytest.raises(BodyTooLarge, match="larger than 1000 bytes"):
                await fetch(pool, server, cap=1000)
            await pool.aclose()

    run(scenario)


def test_keep_alive_reuses_one_connection_per_address() -> None:
    async def scenario() -> None:
        async with Raw(fixed(OK)) as server:
            pool = Http11Pool()
            replies = [await fetch(pool, server, f"/{i}") for i in range(5)]
            await pool.aclose()
        assert [r.body for r in replies] == [b"hello"] * 5
        assert [r.reused for r in replies] == [False, True, True, True, True]
        assert server.connections == 1 and pool.connections_opened == 1

    run(scenario)


def test_a_connection_the_server_closed_is_replaced_once() -> None:
    async def scenario() -> None:
        # no "Connection: close", but the server hangs up after each answer
        async with Raw(fixed(OK), close_after=True) as server:
            pool = Http11Pool()
            first = await fetch(pool, server)
            await asyncio.sleep(0)  # the pooled connection's end may or may not be seen yet
            second = await fetch(pool, server)
            await pool.aclose()
        assert first.body == second.body == b"hello"
        assert server.connections == 2 and len(server.requests) == 2

    run(scenario)


def test_connection_close_and_http10_answers_are_not_reused() -> None:
    async def scenario() -> None:
        for raw in (
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello",
            b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        ):
            async with Raw(fixed(raw)) as server:
                pool = Http11Pool()
                await fetch(pool, server)
                await fetch(pool, server)
                await pool.aclose()
            assert server.connections == 2

    run(scenario)


def test_a_short_non_2xx_body_is_drained_and_the_connection_kept() -> None:
    answers = [
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found",
        OK,
    ]

    async def answer(n: int, head: bytes) -> bytes:
        return answers[n - 1]

    async def scenario() -> None:
        async with Raw(answer) as server:
            pool = Http11Pool()
            missing = await fetch(pool, server)
            found = await fetch(pool, server)
            await pool.aclose()
        assert (missing.status, missing.body) == (404, b"")
        assert (found.status, found.body) == (200, b"hello")
        assert server.connections == 1

    run(scenario)


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"SPDY/9 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort",
    ],
    ids=["two-lengths", "negative", "gzip-coding", "bad-chunk", "not-http", "cut-short"],
)
def test_malformed_answers_are_errors(raw: bytes) -> None:
    async def scenario() -> None:
        async with Raw(fixed(raw), close_after=True) as server:
            pool = Http11Pool(read_timeout=30)
            with pytest.raises(HTTPError):
                await fetch(pool, server)
            await pool.aclose()

    run(scenario)


def test_a_request_line_with_injected_lines_is_refused_before_connecting() -> None:
    async def scenario() -> None:
        async with Raw(fixed(OK)) as server:
            pool = Http11Pool()
            with pytest.raises(HTTPError, match="malformed"):
                await fetch(pool, server, "/a HTTP/1.1\r\nX-Evil: 1\r\n\r\nGET /b")
            await pool.aclose()
        assert server.connections == 0

    run(scenario)


def test_a_server_that_never_answers_meets_the_read_deadline() -> None:
    async def never(n: int, head: bytes) -> bytes:
        await asyncio.Event().wait()
        return b""

    async def scenario() -> None:
        async with Raw(never) as server:
            pool = Http11Pool(read_timeout=0.2)
            with pytest.raises(Timeout):
                await fetch(pool, server)
            await pool.aclose()

    run(scenario)


# -- through AsyncGuardedClient: the policy on every hop ------------------------------------------


def guarded(dns: LoopbackDNS, **kw: Any) -> AsyncGuardedClient:
    kw.setdefault("timeout", 5)
    policy = NetworkPolicy(allow_networks=[ipaddress.ip_network("127.0.0.1/32")], **kw)
    return AsyncGuardedClient(policy, Resolver([dns.server], cache_ttl=0), user_agent="ua")


def test_guarded_redirect_to_a_refused_address_never_connects() -> None:
    dns = LoopbackDNS({"site.test": ["127.0.0.1"], "evil.test": ["127.0.0.2"]})

    async def scenario() -> None:
        internal = Raw(fixed(OK), host="127.0.0.2")
        async with internal:

            async def answer(n: int, head: bytes) -> bytes:
                to = f"http://evil.test:{internal.port}/secret"
                return f"HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n".encode()

            async with Raw(answer) as site:
                client = guarded(dns)
                with pytest.raises(PolicyError, match=r"127\.0\.0\.2 is loopback and outside"):
                    await client.get(f"http://site.test:{site.port}/r")
                pool = client._pool
                await client.aclose()
            assert internal.connections == 0
            assert pool is not None and pool.connections_opened == 1
            assert site.requests[0].startswith(b"GET /r HTTP/1.1\r\nHost: site.test:")

    try:
        run(scenario)
    finally:
        dns.stop()


def test_guarded_redirect_on_the_same_host_reuses_the_connection_and_keeps_headers() -> None:
    dns = LoopbackDNS({"site.test": ["127.0.0.1"]})

    async def answer(n: int, head: bytes) -> bytes:
        if head.startswith(b"GET /a "):
            return b"HTTP/1.1 301 Moved\r\nLocation: /b\r\nContent-Length: 3\r\n\r\nbye"
        return OK

    async def scenario() -> None:
        async with Raw(answer) as site:
            port = site.port
            client = guarded(dns)
            reply = await client.get(f"http://site.test:{port}/a")
            await client.aclose()
        assert (reply.status, reply.body) == (200, b"hello")
        assert reply.url == f"http://site.test:{port}/b"
        assert reply.headers["content-length"] == "5"
        assert reply.request_headers is not None
        assert reply.request_headers["host"] == f"site.test:{port}"
        assert reply.request_headers["user-agent"] == "ua"
        assert site.connections == 1

    try:
        run(scenario)
    finally:
        dns.stop()


def test_guarded_total_deadline_ends_a_trickling_answer() -> None:
    dns = LoopbackDNS({"site.test": ["127.0.0.1"]})

    async def scenario() -> None:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\n")
            try:
                while True:  # one header line at a time, forever: no read ever times out
                    writer.write(b"X-Slow: 1\r\n")
                    await writer.drain()
                    await asyncio.sleep(0.01)
            except ConnectionError:
                writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = guarded(dns, timeout=0.3)
        with pytest.raises(FetchError, match="took longer than the policy's timeout"):
            await client.get(f"http://site.test:{port}/slow")
        await client.aclose()
        server.close()

    try:
        run(scenario)
    finally:
        dns.stop()


def test_a_connection_with_bytes_past_the_answer_is_not_reused() -> None:
    # a body longer than its Content-Length: the rest would be read as the next answer
    raw = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nX-Smuggled: 1\r\n\r\n"
    )

    async def scenario() -> None:
        async with Raw(fixed(raw)) as server:
            pool = Http11Pool()
            first = await fetch(pool, server)
            second = await fetch(pool, server)
            await pool.aclose()
        assert first.body == second.body == b"hello"
        assert not second.reused and server.connections == 2
        assert all(name != b"X-Smuggled" for name, _ in second.headers)

    run(scenario)
