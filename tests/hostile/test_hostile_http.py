"""Hostile HTTP answers from loopback servers started here, through the guarded client every
stage outside the crawl fetches with (re-checks, RDAP, webhooks): each ends in a clear error
within the policy's limits, and the next fetch on the same client works."""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import socket
import time
import zlib
from collections.abc import Callable, Iterator

import pytest

from hostile.rawhttp import RawHTTP
from orbweaver.net import (
    AsyncGuardedClient,
    FetchError,
    GuardedClient,
    NetworkPolicy,
    PolicyError,
    Resolver,
)

OK_BODY = b"fine"
CAP = 1 << 20
TIMEOUT = 3.0


def _send(*parts: bytes) -> Callable[[socket.socket, str], None]:
    def handle(sock: socket.socket, _path: str) -> None:
        for part in parts:
            sock.sendall(part)

    return handle


def _ok(sock: socket.socket, _path: str) -> None:
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n" + OK_BODY)


def _endless_headers(delay: float) -> Callable[[socket.socket, str], None]:
    def handle(sock: socket.socket, _path: str) -> None:
        sock.sendall(b"HTTP/1.1 200 OK\r\n")
        for i in range(10_000_000):
            sock.sendall(f"X-Pad-{i}: {'a' * 40}\r\n".encode())
            if delay:
                time.sleep(delay)

    return handle


def _trickle_body(sock: socket.socket, _path: str) -> None:
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
    for _ in range(100_000):
        sock.sendall(b"x")
        time.sleep(0.2)


def _compressed(encoding: str, raw_size: int) -> Callable[[socket.socket, str], None]:
    def handle(sock: socket.socket, _path: str) -> None:
        zeros = b"\0" * raw_size
        body = gzip.compress(zeros) if encoding == "gzip" else zlib.compress(zeros)
        sock.sendall(
            f"HTTP/1.1 200 OK\r\nContent-Encoding: {encoding}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )

    return handle


def _redirect_to(path: str) -> Callable[[socket.socket, str], None]:
    def handle(sock: socket.socket, _path: str) -> None:
        sock.sendall(
            f"HTTP/1.1 302 Found\r\nLocation: {path}\r\nContent-Length: 0\r\n\r\n".encode()
        )

    return handle


ROUTES: dict[str, Callable[[socket.socket, str], None]] = {
    "/ok": _ok,
    "/endless-headers-fast": _endless_headers(0),
    "/endless-headers-trickled": _endless_headers(0.05),
    "/one-huge-header": _send(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 10_000_000 + b"\r\n\r\n"),
    "/trickled-body": _trickle_body,
    "/content-length-lies-long": _send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nshort"),
    "/content-length-lies-short": _send(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n" + b"y" * 5000
    ),
    "/content-length-huge": _send(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999\r\n\r\nx"),
    "/content-length-negative": _send(b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nxx"),
    "/content-length-twice": _send(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 9\r\n\r\nxx"
    ),
    "/gzip-bomb": _compressed("gzip", 64 << 20),
    "/deflate-bomb": _compressed("deflate", 64 << 20),
    "/redirect-loop": _redirect_to("/redirect-loop"),
    "/redirect-chain-0": _redirect_to("/redirect-chain-1"),
    **{f"/redirect-chain-{i}": _redirect_to(f"/redirect-chain-{i + 1}") for i in range(1, 30)},
    "/redirect-to-file": _redirect_to("file:///etc/passwd"),
    "/redirect-to-metadata": _redirect_to("http://169.254.169.254/latest/meta-data/"),
    "/garbage-status-line": _send(b"\x00\xffNOT HTTP AT ALL\r\n\r\n"),
    "/close-immediately": _send(b""),
    "/bad-chunked": _send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n"),
}

CASES = [
    p
    for p in ROUTES
    if (p != "/ok" and not p.startswith("/redirect-chain-")) or p == "/redirect-chain-0"
]


@pytest.fixture(scope="module")
def server() -> Iterator[RawHTTP]:
    srv = RawHTTP(ROUTES)
    yield srv
    srv.stop()


@pytest.fixture
def client() -> Iterator[GuardedClient]:
    policy = NetworkPolicy(
        allow_networks=[ipaddress.ip_network("127.0.0.1/32")], timeout=TIMEOUT, max_redirects=5
    )
    with GuardedClient(policy, Resolver(cache_ttl=0)) as c:
        yield c


@pytest.mark.timeout(60)
@pytest.mark.parametrize("path", CASES)
def test_a_hostile_answer_is_a_clear_error_and_the_next_fetch_works(
    server: RawHTTP, client: GuardedClient, path: str
) -> None:
    started = time.monotonic()
    try:
        reply = client.request("GET", server.url(path), max_bytes=CAP)
    except (FetchError, PolicyError) as exc:
        assert str(exc)
    else:
        # an answer that is not an error must be one we can stand behind: under the cap
        assert len(reply.body) <= CAP
        assert reply.status < 300 or not reply.body
    elapsed = time.monotonic() - started
    assert elapsed < TIMEOUT * 3 + 5, f"{path} held the client {elapsed:.1f} s"
    assert client.request("GET", server.url("/ok")).body == OK_BODY


@pytest.mark.timeout(60)
@pytest.mark.parametrize("path", CASES)
def test_the_media_workers_client_meets_the_same_answers(server: RawHTTP, path: str) -> None:
    """The same hostile answers against `AsyncGuardedClient` (the media workers' lean HTTP/1.1
    client): a clear error or an answer under the cap, and the next fetch on the same client
    (its keep-alive pool) still works."""
    policy = NetworkPolicy(
        allow_networks=[ipaddress.ip_network("127.0.0.1/32")],
        timeout=TIMEOUT,
        max_redirects=5,
        media_max_bytes=CAP,
    )
    client = AsyncGuardedClient(policy, Resolver(cache_ttl=0))

    async def run() -> bytes:
        try:
            try:
                reply = await client.get(server.url(path))
            except (FetchError, PolicyError) as exc:
                assert str(exc)
            else:
                assert len(reply.body) <= CAP
                assert reply.status < 300 or not reply.body
            return (await client.get(server.url("/ok"))).body
        finally:
            await client.aclose()

    assert asyncio.run(run()) == OK_BODY
