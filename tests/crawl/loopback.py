"""Tiny loopback servers for crawl tests: HTTP with scripted routes, and a DNS server.

Only 127.0.0.1 (or other 127/8 addresses) with ephemeral ports: no packet leaves loopback.
"""

from __future__ import annotations

import contextlib
import io
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dns.message
import dns.rdatatype
import dns.rrset
from PIL import Image, ImageDraw


def synthetic_png(seed: int, size: int = 96) -> bytes:
    """A benign generated picture: gradient background and shapes, different per seed."""
    img = Image.new("RGB", (size, size))
    draw = ImageDraw.Draw(img)
    for y in range(size):
        draw.line(
            [(0, y), (size, y)], fill=((seed * 37 + y) % 256, (seed * 91) % 256, (y * 2) % 256)
        )
    for k in range(4):
        x0 = (seed * (k + 3) * 13) % (size - 20)
        y0 = (seed * (k + 5) * 7) % (size - 20)
        draw.ellipse(
            [x0, y0, x0 + 20, y0 + 20], fill=((k * 60) % 256, (seed * 17) % 256, 255 - k * 40)
        )
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def synthetic_jpeg(seed: int, size: int = 128) -> bytes:
    out = io.BytesIO()
    Image.open(io.BytesIO(synthetic_png(seed, size))).save(out, format="JPEG", quality=90)
    return out.getvalue()


Handler = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Route:
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    handler: Handler | None = None


class LoopbackHTTP:
    """An HTTP server on 127.0.0.1 with routes set by the test; counts requests per path."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.routes: dict[str, Route] = {}
        self.hits: dict[str, int] = {}
        self.connections = 0
        self.lock = threading.Lock()
        owner = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def setup(self) -> None:
                with owner.lock:
                    owner.connections += 1
                super().setup()

            def do_GET(self) -> None:
                with owner.lock:
                    owner.hits[self.path] = owner.hits.get(self.path, 0) + 1
                route = owner.routes.get(self.path)
                if route is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if route.handler is not None:
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        route.handler(self)
                    return
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(route.body)))
                for k, v in route.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(route.body)

        self.server = ThreadingHTTPServer((host, 0), H)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.host = host
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str, host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"

    def add(self, path: str, body: bytes | str = b"", **kw: object) -> str:
        data = body.encode() if isinstance(body, str) else body
        self.routes[path] = Route(body=data, **kw)  # type: ignore[arg-type]
        return self.url(path)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class LoopbackDNS:
    """A UDP DNS server on 127.0.0.1 answering A records from a dict (everything else NXDOMAIN)."""

    def __init__(self, records: dict[str, list[str]]) -> None:
        self.records = {k.rstrip(".").lower(): v for k, v in records.items()}
        self.queries: list[str] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def server(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while self.running:
            try:
                wire, addr = self.sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            query = dns.message.from_wire(wire)
            response = dns.message.make_response(query)
            question = query.question[0]
            name = question.name.to_text().rstrip(".").lower()
            self.queries.append(name)
            if name not in self.records:
                response.set_rcode(3)
            elif question.rdtype == dns.rdatatype.A:
                ips = [ip for ip in self.records[name] if ":" not in ip]
                if ips:
                    response.answer.append(dns.rrset.from_text(question.name, 60, "IN", "A", *ips))
            self.sock.sendto(response.to_wire(), addr)

    def stop(self) -> None:
        self.running = False
        self.thread.join(timeout=2)
        self.sock.close()


def trickle(chunks: int, delay: float) -> Handler:
    """A handler that sends one byte every `delay` seconds (a slow-loris server)."""

    def handle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "image/jpeg")
        h.send_header("Content-Length", str(chunks))
        h.end_headers()
        for _ in range(chunks):
            h.wfile.write(b"\xff")
            h.wfile.flush()
            time.sleep(delay)

    return handle


def endless(declared: int | None) -> Handler:
    """A 10 GB response, generated lazily: declared by Content-Length, or chunked with none."""

    def handle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "image/jpeg")
        if declared is not None:
            h.send_header("Content-Length", str(declared))
        else:
            h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        block = b"\xff\xd8\xff" + b"\0" * 65533
        sent = 0
        while sent < 10 * 1024**3:
            if declared is None:
                h.wfile.write(f"{len(block):x}\r\n".encode() + block + b"\r\n")
            else:
                h.wfile.write(block)
            sent += len(block)

    return handle


def redirect(to: str, status: int = 302) -> Handler:
    def handle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        h.send_header("Location", to)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return handle


def html(*parts: str) -> str:
    return "<!doctype html><html><body>" + "".join(parts) + "</body></html>"


def iter_lines(path: str) -> Iterator[str]:
    with open(path, encoding="utf-8", errors="replace") as f:
        yield from f
