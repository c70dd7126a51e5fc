"""`orbweaver run` as an operator runs it: every role its own process, restarted when killed
and resuming its work, stopped gracefully by SIGTERM, with `/livez`, `/readyz` and `/metrics`
answering and moving as work is done. A small world on loopback: an SMTP sink, synthetic
detections already attributed, a page with pictures for the crawl."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from sqlalchemy import select

from orbweaver.clock import SystemClock
from orbweaver.crawl.frontier import add_seeds
from orbweaver.store import Store, open_store
from orbweaver.store.models import Event, Outbox
from roles.world import (
    StallingSink,
    cli,
    get,
    notices_world,
    role_env,
    service,
    synthetic_png,
    wait_for,
)

pytestmark = pytest.mark.slow


def store_of(env: dict[str, str]) -> Store:
    return open_store(env["ORBWEAVER_DATABASE_URL"])


def sent_ids(store: Store) -> list[str]:
    with store.session() as s:
        return list(s.scalars(select(Outbox.message_id).where(Outbox.status == "sent")))


def test_a_notify_role_killed_mid_message_is_restarted_and_the_message_sent(
    tmp_path: Path,
) -> None:
    """SIGKILL while the relay holds a message unanswered: the supervisor restarts the role,
    the lease runs out, the message in doubt goes again with the same Message-ID (at most
    once more), the others once, and nothing is lost."""
    env = role_env(
        f"sqlite:///{tmp_path / 'ow.db'}",
        str(tmp_path / "var"),
        notify_every_s=0.2,
        delivery_lease_s=2,
    )
    store = store_of(env)
    notices_world(store, SystemClock(), ["h0.test", "h1.test", "h2.test"])
    with StallingSink() as sink:
        env["ORBWEAVER_SMTP_HOST"], env["ORBWEAVER_SMTP_PORT"] = "127.0.0.1", str(sink.port)
        sink.stall_next()
        with service(env, tmp_path, "--roles", "notify") as svc:
            assert sink.handler.stalled.wait(120), svc.log()
            first = svc.roles()["notify"]["pid"]
            os.kill(first, signal.SIGKILL)  # inside the SMTP exchange of the first message
            wait_for("the restart", lambda: svc.roles()["notify"]["pid"] not in (None, first))
            sink.handler.release.set()  # the relay accepts it after all: it is in doubt
            wait_for("every message sent", lambda: len(sent_ids(store)) == 3)
            wait_for(
                "the restarted role's metrics",
                lambda: (
                    svc.metric("notify_health_port", "orbweaver_notices_messages_sent_total") >= 1
                ),
            )
            assert svc.roles()["notify"]["restarts"] == 1
            code, _ = svc.stop()
    assert code == 0, svc.log()
    copies = Counter(str(m["Message-ID"]) for m in sink.messages)
    assert set(copies) == set(sent_ids(store))
    assert sorted(copies.values()) in ([1, 1, 1], [1, 1, 2])  # the one in doubt, at most twice
    with store.session() as s:
        resent = s.scalars(select(Event).where(Event.kind == "outbox.uncertain_resend")).all()
    assert len(resent) == 1
    log = svc.log()
    assert "role notify killed by SIGKILL after" in log
    assert "role notify restarted (pid" in log
    assert "role notify stopped (exited with status 0)" in log


class _Site(BaseHTTPRequestHandler):
    """A page linking two benign generated pictures."""

    pictures: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:
        if self.path in self.pictures:
            body, kind = self.pictures[self.path], "image/png"
        elif self.path == "/":
            links = "".join(f'<img src="{p}">' for p in self.pictures)
            body, kind = f"<html><body>{links}</body></html>".encode(), "text/html"
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def site() -> Iterator[str]:
    _Site.pictures = {f"/p{i}.png": synthetic_png(i) for i in range(2)}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()


def test_every_role_runs_as_its_own_process_answers_health_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    """All roles by default; each ready; work moves their metrics (the crawl's pages, the
    notifier's messages); SIGTERM ends everything gracefully, within the stop timeout."""
    env = role_env(
        f"sqlite:///{tmp_path / 'ow.db'}",
        str(tmp_path / "var"),
        notify_every_s=0.2,
        crawl_allow_networks="127.0.0.1/32",
        stop_timeout_s=45,
    )
    store = store_of(env)
    notices_world(store, SystemClock(), ["h0.test"])
    with StallingSink() as sink, site() as seed:
        env["ORBWEAVER_SMTP_HOST"], env["ORBWEAVER_SMTP_PORT"] = "127.0.0.1", str(sink.port)
        add_seeds(store, SystemClock(), [seed])
        with service(env, tmp_path) as svc:
            wait_for(
                "every role started",
                lambda: len(svc.roles()) == 6 and all(r["pid"] for r in svc.roles().values()),
                60,
            )
            pids = {name: r["pid"] for name, r in svc.roles().items()}
            assert set(pids) == {"crawl", "notify", "monitor", "review-sync", "exchanges", "serve"}
            assert len(set(pids.values())) == 6 and os.getpid() not in pids.values()
            wait_for(
                "the supervisor's /readyz",
                lambda: get(svc.url("supervisor_health_port", "/readyz"))[0] == 200,
                240,
            )
            for setting in (
                "crawl_health_port",
                "notify_health_port",
                "monitor_health_port",
                "review_sync_health_port",
                "exchanges_health_port",
                "serve_port",
            ):
                assert get(svc.url(setting, "/livez"))[0] == 200, setting
                code, body = get(svc.url(setting, "/readyz"))
                assert code == 200 and json.loads(body)["status"] == "ready", (setting, body)
            wait_for(
                "the crawl's pages in its metrics",
                lambda: svc.metric("crawl_health_port", "orbweaver_crawl_pages_total") >= 1,
            )
            wait_for(
                "the crawl's media in its metrics",
                lambda: svc.metric("crawl_health_port", "orbweaver_crawl_media_total") >= 2,
            )
            wait_for("the notice", lambda: len(sink.messages) == 1)
            wait_for(
                "the notifier's metrics",
                lambda: (
                    svc.metric("notify_health_port", "orbweaver_notices_messages_sent_total") == 1
                ),
            )
            outbox = 'orbweaver_queue_due_items{queue="outbox"}'
            assert svc.metric("notify_health_port", outbox) == 0
            supervisor = get(svc.url("supervisor_health_port", "/metrics"))[1]
            assert 'orbweaver_supervisor_role_up{role="serve"} 1.0' in supervisor
            code, took = svc.stop()
    assert code == 0, svc.log()
    assert took < 45
    log = svc.log()
    for name in ("crawl", "notify", "monitor", "review-sync", "serve"):
        assert f"role {name} stopped (exited with status 0)" in log, log[-3000:]
    assert "did not stop within" not in log
    assert "restarted" not in log


def test_a_role_that_keeps_dying_alerts_and_the_others_go_on(tmp_path: Path) -> None:
    """notify cannot start (its health port is taken): it dies, is restarted, an ALERT says
    it keeps dying; monitor, beside it, stays up and ready."""
    env = role_env(
        f"sqlite:///{tmp_path / 'ow.db'}",
        str(tmp_path / "var"),
        restart_alert_after=2,
        stop_timeout_s=20,
    )
    taken = socket.socket()
    taken.bind(("127.0.0.1", int(env["ORBWEAVER_NOTIFY_HEALTH_PORT"])))
    taken.listen()
    try:
        with service(env, tmp_path, "--roles", "notify,monitor") as svc:
            wait_for("the alert", lambda: "ALERT role notify keeps dying" in svc.log(), 180)
            roles = svc.roles()
            assert roles["notify"]["failing"] is True and roles["notify"]["restarts"] >= 1
            assert roles["monitor"]["up"] is True and roles["monitor"]["restarts"] == 0
            wait_for(
                "monitor ready",
                lambda: get(svc.url("monitor_health_port", "/readyz"))[0] == 200,
            )
            assert get(svc.url("supervisor_health_port", "/readyz"))[0] == 503
            code, _ = svc.stop()
    finally:
        taken.close()
    assert code == 0
    assert "role notify exited with status 1" in svc.log()


def test_role_names_are_checked(tmp_path: Path) -> None:
    env = role_env(f"sqlite:///{tmp_path / 'ow.db'}", str(tmp_path / "var"))
    done = subprocess.run(
        cli("run", "--roles", "notify,mail"), env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "unknown role(s) mail" in done.stderr
