"""`notify --loop` and `monitor --loop` keep running across a stop and start of their
database (a private PostgreSQL the test owns), say once that they back off and once that they
resumed, and then do what fell due meanwhile."""

from __future__ import annotations

import ipaddress
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from orbweaver.attribution.types import ChainLink
from orbweaver.clock import SettableClock
from orbweaver.monitor.commands import monitor_loop
from orbweaver.monitor.settings import MonitorSettings
from orbweaver.net import GuardedFetcher, NetworkPolicy, Resolver
from orbweaver.notices.commands import notify_loop
from orbweaver.notices.runner import notify_pass
from orbweaver.notices.settings import NoticeSettings
from orbweaver.store import Store, open_store
from orbweaver.store.models import Check, Outbox
from orbweaver.supervise import Backoff
from supervise.private_pg import PrivatePostgres
from takedown.helpers import FixedAttributor, SmtpSink, detect, provider

pytestmark = pytest.mark.slow
FAST = Backoff(base_s=0.05, cap_s=0.4)


@pytest.fixture(scope="module")
def pg() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    server.start()
    yield server
    server.close()


@pytest.fixture
def pg_store(pg: PrivatePostgres) -> Iterator[Store]:
    """A fresh database on the private server (which the test may stop and start)."""
    pg.ensure_up()
    name = f"loop_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(pg.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    store = open_store(sa.engine.make_url(pg.url).set(database=name).render_as_string(False))
    yield store
    store.dispose()


def _wait(what: str, predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class LoopThread(threading.Thread):
    """Runs a loop until `stop`; keeps what ended it, if anything did."""

    def __init__(self, loop: Callable[..., None], *args: Any, **kw: Any) -> None:
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self._call = lambda: loop(*args, stop=self.stop, backoff=FAST, **kw)

    def run(self) -> None:
        try:
            self._call()
        except BaseException as exc:
            self.error = exc

    def finish(self) -> None:
        self.stop.set()
        self.join(30)
        assert not self.is_alive() and self.error is None, self.error


def _lines(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "orbweaver.supervise" and text in r.getMessage()
    ]


def _outage(
    pg: PrivatePostgres,
    caplog: pytest.LogCaptureFixture,
    loop: LoopThread,
    during: Callable[[], None],
) -> None:
    """Stop the database until the loop has failed a few times, then start it again."""
    pg.stop()
    during()
    _wait("a few failed passes", lambda: len(_lines(caplog, "still failing")) >= 3)
    assert loop.is_alive() and loop.error is None
    pg.start()


def _world(store: Store, clock: SettableClock, urls: list[str]) -> FixedAttributor:
    now = clock.now().replace(tzinfo=None)
    chains, recipient = {}, {}
    with store.session() as s:
        for i, url in enumerate(urls):
            host = url.split("/")[2].split(":")[0]
            p = provider(s, now, f"Host {i}", email=f"abuse@h{i}.test")
            detect(s, now, url, seed=url)
            chains[host] = [ChainLink("hosting_provider", p.id, p.name, p.abuse_email)]
            recipient[host] = p.id
    return FixedAttributor(chains, recipient)


def test_notify_loop_survives_a_database_restart_and_sends_what_fell_due(
    pg: PrivatePostgres, pg_store: Store, clock: SettableClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="orbweaver.supervise")
    att = _world(pg_store, clock, [f"http://h{i}.test/a.jpg" for i in range(3)])
    with SmtpSink() as sink:
        settings = NoticeSettings(
            smtp_host="127.0.0.1",
            smtp_port=sink.port,
            notice_from="n@hotline.test",
            notice_domain="hotline.test",
            followup_interval_hours=24,
        )
        loop = LoopThread(notify_loop, pg_store, clock, att, every_s=0.05, settings=settings)
        loop.start()
        _wait("the first notices", lambda: _sent(pg_store) == 3)
        # the follow-ups fall due while the database is down
        _outage(pg, caplog, loop, lambda: clock.advance(timedelta(hours=25)))
        _wait("the follow-ups after the restart", lambda: len(sink.messages) == 6)
        loop.finish()
    assert sorted(str(m["Subject"]).split(":")[0] for m in sink.messages) == [
        *["Follow-up 1"] * 3,
        *["Removal request"] * 3,
    ]
    assert len(_lines(caplog, "backing off")) == 1
    assert len(_lines(caplog, "notify: resumed after")) == 1


def _sent(store: Store) -> int:
    with store.session() as s:
        return len(s.scalars(select(Outbox).where(Outbox.status == "sent")).all())


class Gone(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_monitor_loop_survives_a_database_restart_and_checks_what_fell_due(
    pg: PrivatePostgres, pg_store: Store, clock: SettableClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="orbweaver.supervise")
    site = ThreadingHTTPServer(("127.0.0.1", 0), Gone)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{site.server_port}/a.jpg"
    att = _world(pg_store, clock, [url])
    fetcher = GuardedFetcher(
        NetworkPolicy(allow_networks=[ipaddress.ip_network("127.0.0.1/32")], timeout=5),
        Resolver([]),
    )
    settings = MonitorSettings(recheck_schedule_hours=[1.0], recheck_every_hours=24)
    try:
        with SmtpSink() as sink:
            notice_settings = NoticeSettings(smtp_host="127.0.0.1", smtp_port=sink.port)
            assert notify_pass(pg_store, clock, att, notice_settings).delivery.sent == 1
        loop = LoopThread(monitor_loop, pg_store, clock, fetcher, settings, every_s=0.05)
        loop.start()
        time.sleep(0.3)  # a few passes with nothing due
        # the first re-check falls due while the database is down
        _outage(pg, caplog, loop, lambda: clock.advance(timedelta(hours=2)))
        _wait("the re-check after the restart", lambda: _checks(pg_store) >= 1)
        loop.finish()
    finally:
        fetcher.close()
        site.shutdown()
    assert len(_lines(caplog, "backing off")) == 1
    assert len(_lines(caplog, "monitor: resumed after")) == 1


def _checks(store: Store) -> int:
    with store.session() as s:
        return len(s.scalars(select(Check)).all())


@pytest.mark.parametrize("role", ["notify", "monitor"])
def test_the_loop_commands_outlive_a_database_restart(
    pg: PrivatePostgres, pg_store: Store, role: str, tmp_path: Path
) -> None:
    """The commands themselves (main's ended on the first database error)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORBWEAVER_")}
    env["ORBWEAVER_DATABASE_URL"] = pg_store.url
    cmd = [sys.executable, "-m", "orbweaver.cli", role, "--loop", "--every", "0.2"]
    proc = subprocess.Popen(
        cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True
    )  # type: ignore[union-attr]
    reader.start()
    try:
        _wait("the loop to start", lambda: any(f"{role}: running" in line for line in lines))
        time.sleep(1.0)  # a few passes
        assert proc.poll() is None, "".join(lines)
        pg.stop()
        _wait("the back-off line", lambda: any("backing off" in line for line in lines))
        time.sleep(2.0)  # several failed attempts
        assert proc.poll() is None, "".join(lines)
        pg.start()
        _wait(
            "the resumed line " + "".join(lines),
            lambda: any(f"{role}: resumed after" in line for line in lines),
        )
        assert proc.poll() is None, "".join(lines)
    finally:
        proc.terminate()
        proc.wait(30)
        reader.join(5)
    assert sum("backing off" in line for line in lines) == 1, "".join(lines)
