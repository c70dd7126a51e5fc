"""`/livez`, `/readyz` and `/metrics`, as Kubernetes and Prometheus expect them.

- `/livez`: the process runs its loop (200), or its loop has ended (503: restart me).
- `/readyz`: every readiness probe passes: the store answers, its schema is at this code's
  migrations, the role's match index is loaded where it has one. 503 with the failing probes
  otherwise. Probes run with a deadline (`health_timeout_s`): a store that does not answer
  makes the role not ready, it does not make the probe hang.
- `/metrics`: the process' Prometheus metrics (`orbweaver.ops.metrics`).

`HealthServer` serves them on a loopback port of the role's own (a thread, no framework), so
they answer whatever the role's main loop is doing (a Scrapy reactor, a notify pass). `serve`
answers the same paths on its web app (`orbweaver.web`), from the same `Health`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from orbweaver.ops.metrics import exposition

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    """One readiness probe's answer."""

    name: str
    ok: bool
    detail: str = ""


Probe = Callable[[], Check]


def _failed(name: str, exc: BaseException) -> Check:
    text = " ".join(str(exc).split())[:300]
    return Check(name, False, f"{type(exc).__name__}: {text}")


def store_reachable(store: Any) -> Probe:
    def probe() -> Check:
        try:
            store.ping()
        except Exception as exc:
            return _failed("store", exc)
        return Check("store", True, store.dialect)

    return probe


def migrations_current(store: Any) -> Probe:
    def probe() -> Check:
        try:
            current, heads = store.schema_revisions()
        except Exception as exc:
            return _failed("migrations", exc)
        if current != heads:
            have, want = ",".join(sorted(current)) or "none", ",".join(sorted(heads))
            return Check("migrations", False, f"at {have}, code needs {want}: db upgrade")
        return Check("migrations", True, ",".join(sorted(heads)))

    return probe


def store_probes(store: Any) -> list[Probe]:
    """What every role needs of the store: it answers, and its schema is current."""
    return [store_reachable(store), migrations_current(store)]


class Health:
    """A role's liveness and readiness. Probes can be added once the role is built (until
    then it is alive and not ready: "starting")."""

    def __init__(self, role: str, *, timeout_s: float = 2.0) -> None:
        self.role = role
        self.timeout_s = timeout_s
        self.probes: list[Probe] = []
        self.built = False
        self.ended: str | None = None  # why the loop ended, once it has
        self._running: threading.Thread | None = None
        self._lock = threading.Lock()

    def set_probes(self, probes: list[Probe]) -> None:
        self.probes = list(probes)
        self.built = True

    def live(self) -> tuple[bool, dict[str, Any]]:
        if self.ended is not None:
            return False, {"role": self.role, "status": "ended", "detail": self.ended}
        return True, {"role": self.role, "status": "alive"}

    def ready(self) -> tuple[bool, dict[str, Any]]:
        if not self.built:
            return False, {"role": self.role, "status": "starting", "checks": {}}
        checks = self._run_probes()
        ok = all(c.ok for c in checks) and self.ended is None
        return ok, {
            "role": self.role,
            "status": "ready" if ok else "not ready",
            "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in checks},
        }

    def _run_probes(self) -> list[Check]:
        """Every probe, in one thread, within the deadline. A probe still hanging from the
        last request is not started twice: the answer is "not ready" until it returns."""
        with self._lock:
            if self._running is not None and self._running.is_alive():
                return [Check("probes", False, "the previous probe has not returned yet")]
            results: list[Check] = []
            probes = list(self.probes)

            def run() -> None:
                for probe in probes:
                    try:
                        results.append(probe())
                    except Exception as exc:  # a broken probe says no, it does not crash
                        results.append(_failed(getattr(probe, "__name__", "probe"), exc))

            thread = threading.Thread(target=run, name=f"{self.role}-readyz", daemon=True)
            self._running = thread
            thread.start()
        thread.join(self.timeout_s)
        if thread.is_alive():
            done = list(results)
            return [*done, Check("probes", False, f"no answer within {self.timeout_s:g} s")]
        return results


def respond(health: Health, path: str) -> tuple[int, str, bytes]:
    """(status, content type, body) for a GET of `path`; 404 for anything else."""
    if path == "/metrics":
        body, content_type = exposition()
        return 200, content_type, body
    if path in ("/livez", "/readyz"):
        ok, doc = health.live() if path == "/livez" else health.ready()
        return (200 if ok else 503), "application/json", json.dumps(doc).encode()
    return 404, "text/plain; charset=utf-8", b"not found\n"


class HealthServer:
    """`/livez`, `/readyz` and `/metrics` of one process, on its own port, in a thread."""

    def __init__(
        self,
        health: Health,
        host: str,
        port: int,
        *,
        responder: Callable[[Health, str], tuple[int, str, bytes]] = respond,
    ) -> None:
        self.health = health
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, content_type, body = responder(owner.health, self.path.split("?")[0])
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass  # scrapes every few seconds are not news

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, name=f"{health.role}-health", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> HealthServer:
        self.thread.start()
        log.info(
            "%s: /livez, /readyz and /metrics on http://%s:%d",
            self.health.role,
            self.server.server_address[0],
            self.port,
        )
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
