"""A lean HTTP/1.1 client on plain asyncio streams, for the media workers' hot path (issue 15).

httpx/httpcore/anyio cost about 1 ms of CPU a request in the media workers (pool scans, anyio's
per-read attribute lookups, header models); this client does only what a pinned GET needs:

- the caller names the address and port to connect to (already checked by the network
  policy: `AsyncGuardedClient`), the Host header and, for HTTPS, the name TLS presents (SNI)
  and verifies; this module never resolves a name, so nothing can rebind behind the check;
- keep-alive connections pooled per (scheme, address, port, TLS name), reused newest first;
  a request on a reused connection that the server had closed meanwhile is sent again once
  on a fresh one (GET only, nothing of its answer read);
- bodies delimited by Content-Length, chunked transfer coding or the connection's end, the
  size cap enforced while reading (a declared length over the cap is refused before reading);
- a connect deadline, a deadline for the whole answer from the request sent (`read_timeout`,
  None for none), and the caller's own total deadline (`asyncio.timeout` around the call).

Errors are `HTTPError` (transport, protocol; `BodyTooLarge`, `Timeout`); the caller's total
deadline raises its own `TimeoutError`.
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module
from collections import deque
from dataclasses import dataclass, field

MAX_HEADER_BYTES = 64 * 1024
MAX_HEADERS = 200
DRAIN_MAX = 64 * 1024  # an unread body up to this size is read and dropped to keep the connection


class HTTPError(Exception):
    """The request failed: transport, protocol, or a body over its cap. `status` is the HTTP
    status when the answer had begun."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class BodyTooLarge(HTTPError):
    """The body passed the caller's cap (declared or while reading)."""


class Timeout(HTTPError):
    """A connect or a read passed its deadline."""


class _Stale(Exception):
    """A reused connection ended before any byte of the answer: sent again on a fresh one."""


@dataclass
class Response:
    status: int
    headers: list[tuple[bytes, bytes]]  # as received, names and values raw
    body: bytes = b""
    reused: bool = False  # sent on a pooled connection


@dataclass(eq=False)
class _Connection:
    key: tuple[str, str, int, str | None]
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    requests: int = 0

    def usable(self) -> bool:
        # bytes left over after an answer (a body longer than its Content-Length) would be
        # read as the next answer: such a connection is not reused
        leftover = getattr(self.reader, "_buffer", b"")
        return not (self.writer.is_closing() or self.reader.at_eof() or leftover)

    def close(self) -> None:
        self.writer.close()


@dataclass
class _Head:
    status: int
    version: bytes
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    length: int | None = None
    chunked: bool = False
    close: bool = False


class Http11Pool:
    """Keep-alive connections and GET requests over them (see the module docstring).

    `max_connections` bounds the connections open at once (a request waits for one);
    `max_idle` the idle ones kept (the oldest closed first). Not thread-safe: one per loop."""

    def __init__(
        self,
        ssl_context: ssl_module.SSLContext | None = None,
        *,
        max_connections: int = 512,
        max_idle: int | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float | None = 30.0,
    ) -> None:
        self._ssl = ssl_context
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_idle = max_connections if max_idle is None else max_idle
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: dict[tuple[str, str, int, str | None], deque[_Connection]] = {}
        self._idle_count = 0
        self.connections_opened = 0  # for tests and benchmarks

    def _ssl_context(self) -> ssl_module.SSLContext:
        if self._ssl is None:
            self._ssl = ssl_module.create_default_context()
        return self._ssl

    async def aclose(self) -> None:
        idle, self._idle, self._idle_count = self._idle, {}, 0
        for conns in idle.values():
            for conn in conns:
                conn.close()

    async def get(
        self,
        *,
        scheme: str,
        address: str,
        port: int,
        host: str,
        path: str,
        headers: list[tuple[str, str]],
        cap: int,
        tls_name: str | None = None,
    ) -> Response:
        """GET `path` from `address:port` with `Host: host`. The body of a 2xx answer is
        read under `cap`; any other answer's is dropped (read when short, to keep the
        connection). `tls_name`: the name TLS presents and verifies (the address when None)."""
        key = (scheme, address, port, tls_name)
        request = _request_bytes(path, host, headers)
        async with self._slots:
            for _attempt in range(2):
                conn, reused = await self._acquire(key)
                try:
                    response = await self._exchange(conn, request, cap)
                except _Stale:
                    conn.close()
                    if reused:
                        continue
                    raise HTTPError("the server closed the connection without an answer") from None
                except BaseException:
                    conn.close()
                    raise
                response.reused = reused
                return response
        raise HTTPError("the server closed the connection without an answer")

    async def _acquire(self, key: tuple[str, str, int, str | None]) -> tuple[_Connection, bool]:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            self._idle_count -= 1
            if conn.usable():
                return conn, True
            conn.close()
        scheme, address, port, tls_name = key
        context = self._ssl_context() if scheme == "https" else None
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(
                    address,
                    port,
                    ssl=context,
                    server_hostname=(tls_name or address) if context is not None else None,
                    limit=MAX_HEADER_BYTES,
                )
        except TimeoutError:
            raise Timeout(f"connect to {address}:{port} timed out") from None
        except (OSError, ssl_module.SSLError) as exc:
            raise HTTPError(f"connect to {address}:{port}: {exc}") from exc
        self.connections_opened += 1
        return _Connection(key, reader, writer), False

    def _release(self, conn: _Connection) -> None:
        if not conn.usable() or self.max_idle <= 0:
            conn.close()
            return
        while self._idle_count >= self.max_idle:
            self._evict_one()
        self._idle.setdefault(conn.key, deque()).append(conn)
        self._idle_count += 1

    def _evict_one(self) -> None:
        for key, conns in self._idle.items():
            if conns:
                conns.popleft().close()
                self._idle_count -= 1
                if not conns:
                    del self._idle[key]
                return
        self._idle_count = 0

    async def _exchange(self, conn: _Connection, request: bytes, cap: int) -> Response:
        reader, writer = conn.reader, conn.writer
        first = conn.requests == 0
        conn.requests += 1
        try:
            writer.write(request)
            await writer.drain()
        except OSError as exc:
            if not first:
                raise _Stale from exc
            raise HTTPError(f"send: {exc}") from exc
        try:
            # one deadline for the whole answer, not one a read: each costs a timer handle
            async with asyncio.timeout(self.read_timeout):
                head = await self._head(reader, first)
                if 200 <= head.status < 300:
                    body = await self._body(reader, head, cap)
                    keep = not head.close
                else:
                    body = b""
                    keep = False
                    if not head.close and head.length is not None and head.length <= DRAIN_MAX:
                        await self._body(reader, head, DRAIN_MAX)
                        keep = True
        except TimeoutError:
            raise Timeout("read timed out") from None
        response = Response(head.status, head.headers, body)
        if keep:
            self._release(conn)
        else:
            conn.close()
        return response

    async def _head(self, reader: asyncio.StreamReader, first: bool) -> _Head:
        while True:
            try:
                raw = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                if not exc.partial and not first:
                    raise _Stale from None
                raise HTTPError("the connection ended before the answer's headers") from None
            except asyncio.LimitOverrunError:
                raise HTTPError(f"headers longer than {MAX_HEADER_BYTES} bytes") from None
            except OSError as exc:
                if not first:
                    raise _Stale from exc
                raise HTTPError(f"read: {exc}") from exc
            head = _parse_head(raw)
            if 100 <= head.status < 200:  # 100 Continue and friends: the answer follows
                continue
            return head

    async def _body(self, reader: asyncio.StreamReader, head: _Head, cap: int) -> bytes:
        status = head.status
        if head.status in (204, 304):
            return b""
        try:
            if head.chunked:
                return await self._chunked(reader, cap, status)
            if head.length is not None:
                if head.length > cap:
                    raise BodyTooLarge(f"larger than {cap} bytes", status)
                return await reader.readexactly(head.length)
            head.close = True  # delimited by the connection's end
            chunks: list[bytes] = []
            size = 0
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    return b"".join(chunks)
                size += len(chunk)
                if size > cap:
                    raise BodyTooLarge(f"larger than {cap} bytes", status)
                chunks.append(chunk)
        except asyncio.IncompleteReadError:
            raise HTTPError("the connection ended inside the body", status) from None
        except asyncio.LimitOverrunError:
            raise HTTPError("malformed chunked body", status) from None
        except OSError as exc:
            raise HTTPError(f"read: {exc}", status) from exc

    async def _chunked(self, reader: asyncio.StreamReader, cap: int, status: int) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            line = await reader.readuntil(b"\r\n")
            text = line.split(b";", 1)[0].strip()
            try:
                n = int(text, 16)
            except ValueError:
                raise HTTPError(f"malformed chunk size {text[:20]!r}", status) from None
            if n < 0:
                raise HTTPError("malformed chunk size", status)
            if n == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailers, dropped
                return b"".join(chunks)
            size += n
            if size > cap:
                raise BodyTooLarge(f"larger than {cap} bytes", status)
            data = await reader.readexactly(n + 2)
            if data[-2:] != b"\r\n":
                raise HTTPError("malformed chunk", status)
            chunks.append(data[:-2])


def _request_bytes(path: str, host: str, headers: list[tuple[str, str]]) -> bytes:
    if any(c in path for c in " \r\n") or any(c in host for c in "\r\n"):
        raise HTTPError("malformed request target")
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}"]
    for name, value in headers:
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise HTTPError(f"malformed header {name!r}")
        lines.append(f"{name}: {value}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("latin-1")


def _parse_head(raw: bytes) -> _Head:
    lines = raw[:-4].split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise HTTPError(f"malformed status line {lines[0][:80]!r}")
    head = _Head(int(parts[1]), parts[0])
    if len(lines) > MAX_HEADERS + 1:
        raise HTTPError(f"more than {MAX_HEADERS} headers", head.status)
    connection = b""
    lengths: set[bytes] = set()
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise HTTPError(f"malformed header line {line[:80]!r}", head.status)
        value = value.strip()
        head.headers.append((name, value))
        lower = name.lower()
        if lower == b"content-length":
            lengths.add(value)
        elif lower == b"transfer-encoding":
            head.chunked = value.lower().endswith(b"chunked")
            if not head.chunked:
                raise HTTPError(f"unsupported transfer coding {value[:40]!r}", head.status)
        elif lower == b"connection":
            connection = value.lower()
    if head.chunked:
        head.length = None  # chunked wins over a length (RFC 9112 6.3); not reused after
        head.close = bool(lengths)
    elif lengths:
        if len(lengths) > 1 or not next(iter(lengths)).isdigit():
            raise HTTPError("conflicting or malformed Content-Length", head.status)
        head.length = int(next(iter(lengths)))
    if b"close" in connection or (head.version == b"HTTP/1.0" and b"keep-alive" not in connection):
        head.close = True
    return head
