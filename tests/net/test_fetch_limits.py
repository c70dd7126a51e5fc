"""The guarded client's limits at their edges (found by mutation testing): a body of exactly the
cap is read and one byte more is refused, whether declared or streamed; every 2xx answer's body
is read, not only a 200's; only a 2xx answer with its digest is a usable re-check."""

from __future__ import annotations

import hashlib
import ipaddress
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from crawl.loopback import LoopbackHTTP
from orbweaver.net import FetchError, GuardedClient, GuardedFetcher, NetworkPolicy, Resolver
from orbweaver.net.fetch import FetchResult

CAP = 1000


@pytest.fixture
def site() -> Iterator[LoopbackHTTP]:
    server = LoopbackHTTP("127.0.0.1")
    yield server
    server.stop()


def _client() -> GuardedClient:
    policy = NetworkPolicy(allow_networks=[ipaddress.ip_network("127.0.0.1/32")], timeout=5)
    return GuardedClient(policy, Resolver([]))


def chunked(size: int, status: int = 200) -> Callable[[BaseHTTPRequestHandler], None]:
    """`size` bytes in chunks of 100, with no Content-Length (only the running count can cap)."""

    def handle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        left = size
        while left:
            part = b"x" * min(100, left)
            h.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            left -= len(part)
        h.wfile.write(b"0\r\n\r\n")

    return handle


@pytest.mark.parametrize("streamed", [True, False], ids=["chunked", "declared"])
def test_a_body_of_exactly_the_cap_is_read_and_one_byte_more_is_refused(
    site: LoopbackHTTP, streamed: bool
) -> None:
    for size in (CAP, CAP + 1):
        if streamed:
            site.add(f"/{size}", handler=chunked(size))
        else:
            site.add(f"/{size}", b"x" * size, content_type="image/jpeg")
    with _client() as client:
        reply = client.request("GET", site.url(f"/{CAP}"), max_bytes=CAP)
        assert reply.status == 200 and reply.body == b"x" * CAP
        with pytest.raises(FetchError, match=f"larger than {CAP} bytes") as refused:
            client.request("GET", site.url(f"/{CAP + 1}"), max_bytes=CAP)
        assert refused.value.status == 200


@pytest.mark.parametrize("status", [200, 203, 206, 299])
def test_every_2xx_body_is_read(site: LoopbackHTTP, status: int) -> None:
    site.add("/x", handler=chunked(300, status))
    with _client() as client:
        reply = client.request("GET", site.url("/x"), max_bytes=CAP)
    assert reply.status == status and reply.body == b"x" * 300
    policy = NetworkPolicy(allow_networks=[ipaddress.ip_network("127.0.0.1/32")], timeout=5)
    fetcher = GuardedFetcher(policy, Resolver([]))
    try:
        got = fetcher.get(site.url("/x"))  # a re-check: any 2xx is the content, online
    finally:
        fetcher.close()
    assert got.ok and got.status == status
    assert got.sha256 == hashlib.sha256(b"x" * 300).hexdigest()


def test_only_a_2xx_answer_with_its_digest_is_a_usable_recheck() -> None:
    digest = hashlib.sha256(b"x").hexdigest()
    assert FetchResult("http://a.test/", 200, digest).ok
    assert FetchResult("http://a.test/", 299, digest).ok
    assert not FetchResult("http://a.test/", 200, None).ok
    for status in (199, 300, 304, 404):
        assert not FetchResult("http://a.test/", status, digest).ok, status
    assert not FetchResult("http://a.test/", None, digest).ok


def test_close_closes_the_connections_and_the_client_is_reusable(site: LoopbackHTTP) -> None:
    site.add("/x", b"x", content_type="image/jpeg")
    client = _client()
    assert client.request("GET", site.url("/x")).body == b"x"
    pooled = client._client(None)  # the keep-alive pool that request used
    client.close()
    assert pooled.is_closed
    assert client.request("GET", site.url("/x")).body == b"x"  # a new pool after close()
    assert client._client(None) is not pooled
    client.close()


class Methods:
    """A loopback server that records (method, path, body) and redirects /r<status> to /t."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, bytes]] = []
        owner = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                owner.seen.append((self.command, self.path, self.rfile.read(length)))
                if self.path.startswith("/r"):
                    self.send_response(int(self.path[2:]))
                    self.send_header("Location", "/t")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = do_POST = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"


@pytest.mark.parametrize(
    ("method", "status", "then"),
    [
        ("POST", 301, "GET"),
        ("POST", 302, "GET"),
        ("POST", 303, "GET"),
        ("GET", 303, "GET"),
        ("POST", 307, "POST"),
        ("POST", 308, "POST"),
        ("GET", 308, "GET"),
    ],
)
def test_redirects_are_followed_with_the_method_browsers_use(
    method: str, status: int, then: str
) -> None:
    server = Methods()
    try:
        with _client() as client:
            body = {"a": 1} if method == "POST" else None
            reply = client.request(method, server.url(f"/r{status}"), json=body)
    finally:
        server.server.shutdown()
    assert reply.status == 200 and reply.body == b"ok"
    assert [(m, p) for m, p, _ in server.seen] == [(method, f"/r{status}"), (then, "/t")]
    assert (server.seen[1][2] != b"") == (then == "POST")  # the body goes only with a POST


def test_a_300_answer_is_no_content(site: LoopbackHTTP) -> None:
    """Multiple Choices (no Location, so not followed) is not the content: a miss."""
    site.add("/choices", b"pick one", status=300, content_type="text/plain")
    policy = NetworkPolicy(allow_networks=[ipaddress.ip_network("127.0.0.1/32")], timeout=5)
    fetcher = GuardedFetcher(policy, Resolver([]))
    try:
        got = fetcher.get(site.url("/choices"))
    finally:
        fetcher.close()
    assert not got.ok and got.status == 300 and got.sha256 is None and got.error == "HTTP 300"


def test_a_page_of_a_mebibyte_is_read_by_default(site: LoopbackHTTP) -> None:
    """The default caps hold real pages and pictures (each a few MiB at least)."""
    page = b"<p>" * (1024 * 1024 // 3)
    site.add("/page.html", page, content_type="text/html")
    with _client() as client:
        assert client.request("GET", site.url("/page.html")).body == page
    policy = NetworkPolicy()
    assert policy.page_max_bytes <= policy.media_max_bytes <= policy.archive_max_bytes
