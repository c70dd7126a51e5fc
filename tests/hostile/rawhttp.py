"""A loopback TCP server that answers each path with raw bytes from a handler: for answers no
well-behaved HTTP server library would send (endless headers, lying lengths, bombs)."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from collections.abc import Callable

Handler = Callable[[socket.socket, str], None]


class RawHTTP:
    def __init__(self, routes: dict[str, Handler]) -> None:
        self.routes = routes
        owner = self

        class H(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                sock: socket.socket = self.request
                sock.settimeout(30)
                head = b""
                with contextlib.suppress(OSError):
                    while b"\r\n\r\n" not in head and len(head) < 65536:
                        chunk = sock.recv(4096)
                        if not chunk:
                            return
                        head += chunk
                    path = head.split(b" ", 2)[1].decode("latin-1")
                    handler = owner.routes.get(path)
                    if handler is None:
                        sock.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                        return
                    handler(sock, path)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
