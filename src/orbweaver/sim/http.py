"""A small HTTP/1.1 server on asyncio streams, written for the world's needs.

Why not uvicorn or aiohttp: the world needs to misbehave on purpose (trickle bytes, declare a
Content-Length it never sends, cut a body short), act as a forward proxy (absolute-form targets and
CONNECT tunnels for the Tor gateway) and listen on dozens of addresses from one event loop; a
hundred lines of protocol give all of that without fighting a framework.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024
REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    301: "Moved Permanently",
    302: "Found",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    410: "Gone",
    413: "Payload Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


@dataclass
class Request:
    method: str
    target: str  # as sent: origin-form "/x?y" or absolute-form "http://h/x" (proxies)
    headers: dict[str, str]
    body: bytes
    local_ip: str
    host: str  # from an absolute target, else the Host header, without port
    path: str
    query: dict[str, list[str]]

    def arg(self, name: str, default: str = "") -> str:
        return self.query.get(name, [default])[0]

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: AsyncIterator[bytes] | None = None  # body produced lazily (slow, oversized)
    content_length: int | None = None  # declared length for streams (may be a lie, on purpose)
    close: bool = False
    tunnel: Handler | None = None  # CONNECT accepted: serve the tunnel's requests with this


Handler = Callable[["Request"], Awaitable["Response"]]


def json_response(data: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(data, indent=1).encode(), "application/json")


def text_response(
    text: str, status: int = 200, ctype: str = "text/plain; charset=utf-8"
) -> Response:
    return Response(status, text.encode(), ctype)


def not_found() -> Response:
    return text_response("not found\n", 404)


def parse_head(head: bytes, local_ip: str) -> tuple[Request, int]:
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    if target.startswith(("http://", "https://")):
        parts = urlsplit(target)
        host, path, query = parts.hostname or "", parts.path or "/", parts.query
    elif method == "CONNECT":
        host, path, query = target.rsplit(":", 1)[0], "", ""
    else:
        parts = urlsplit(target)
        host = headers.get("host", "").rsplit(":", 1)[0]
        path, query = parts.path or "/", parts.query
    length = int(headers.get("content-length", "0") or 0)
    req = Request(
        method.upper(), target, headers, b"", local_ip, host.lower(), path, parse_qs(query)
    )
    return req, length


async def write_response(writer: asyncio.StreamWriter, resp: Response, head_only: bool) -> None:
    length = resp.content_length if resp.stream is not None else len(resp.body)
    lines = [f"HTTP/1.1 {resp.status} {REASONS.get(resp.status, 'Unknown')}"]
    lines.append(f"Content-Type: {resp.content_type}")
    if length is not None:
        lines.append(f"Content-Length: {length}")
    lines.extend(f"{k}: {v}" for k, v in resp.headers)
    if resp.close or (resp.stream is not None and length is None):
        lines.append("Connection: close")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    if head_only:
        await writer.drain()
        return
    if resp.stream is None:
        writer.write(resp.body)
        await writer.drain()
        return
    async for chunk in resp.stream:
        writer.write(chunk)
        await writer.drain()


async def serve_connection(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    handler: Handler,
    local_ip: str | None = None,
) -> None:
    """Serve keep-alive requests on one connection until the peer closes or a stream ends."""
    if local_ip is None:
        local_ip = writer.get_extra_info("sockname")[0]
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            try:
                req, length = parse_head(head[:-4], local_ip)
            except ValueError:
                await write_response(writer, text_response("bad request\n", 400), False)
                return
            if length > MAX_BODY:
                await write_response(writer, text_response("too large\n", 413), False)
                return
            if length:
                req.body = await reader.readexactly(length)
            try:
                resp = await handler(req)
            except Exception as exc:  # a bug in one handler must not kill the server
                resp = text_response(f"internal error: {exc!r}\n", 500)
            if req.method == "CONNECT" and resp.tunnel is not None:
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                handler = resp.tunnel  # the peer now speaks HTTP to the tunnelled host
                continue
            await write_response(writer, resp, req.method == "HEAD")
            if (
                resp.close
                or resp.stream is not None
                or req.headers.get("connection", "").lower() == "close"
            ):
                return
    except (ConnectionError, asyncio.IncompleteReadError):
        return
    except asyncio.CancelledError:
        # The world stopping cancels every open connection: their normal end. A connection
        # task that ends cancelled is logged by asyncio's stream callback as an error.
        return
    finally:
        writer.close()
