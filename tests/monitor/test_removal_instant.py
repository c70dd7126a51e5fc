"""Removal time, the figure every report is judged by, pinned exactly (issue 21, survivor 1).

The removal instant is the midpoint of (last check that saw the content online, first miss of
the streak that confirmed removal]; with no online check after the notice, the notice itself is
the lower end. These tests derive the expected instant from the checks the monitor stored, so
taking the first miss, the last online check, or the first miss of an earlier, broken streak
instead all fail (the world test's tolerance of a day accepts any of them).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from orbweaver.clock import SettableClock
from orbweaver.monitor import (
    MonitorSettings,
    check_due,
    due_after,
    removal_instant,
    removal_seconds,
)
from orbweaver.net import GuardedFetcher, NetworkPolicy, Resolver
from orbweaver.store import Store
from orbweaver.store.models import Check, Event, Notice
from takedown.helpers import noticed_bytes

SETTINGS = MonitorSettings(
    recheck_schedule_hours=[1, 6, 24],
    recheck_every_hours=24,
    offline_confirm_misses=3,
    offline_confirm_spacing_minutes=5,
)
BODY = b"synthetic bytes, not a picture: only the exact digest can match"


class Site:
    """Loopback server: path -> status (the body is always BODY when 200)."""

    def __init__(self) -> None:
        self.status: dict[str, int] = {}
        site = self

        class H(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                code = site.status.get(self.path, 404)
                body = BODY if code == 200 else b""
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    s = Site()
    yield s
    s.server.shutdown()


@pytest.fixture
def fetcher() -> Iterator[GuardedFetcher]:
    import ipaddress

    policy = NetworkPolicy(allow_networks=[ipaddress.ip_network("127.0.0.1/32")], timeout=5)
    f = GuardedFetcher(policy, Resolver([]))
    yield f
    f.close()


def _noticed(store: Store, clock: SettableClock, url: str) -> int:
    return noticed_bytes(store, clock.now(), url, BODY, host="127.0.0.1")


def _next_check(store: Store, clock: SettableClock, fetcher: GuardedFetcher, nid: int) -> str:
    """Move the clock to the notice's next due check (and a few seconds on), run it, and
    return the outcome stored."""
    with store.session() as s:
        n = s.get_one(Notice, nid)
        done, first_sent, due = n.checks_done, n.first_sent_at, n.next_check_at
    assert first_sent is not None
    if done == 0:  # not scheduled until a monitor first looks: the first offset
        due = due_after(first_sent, 0, SETTINGS)
    assert due is not None
    clock.set(due + timedelta(seconds=7))
    check_due(store, clock, fetcher, SETTINGS)
    with store.session() as s:
        last = s.scalars(select(Check).where(Check.notice_id == nid).order_by(Check.id)).all()
        return last[-1].outcome


def _checks(store: Store, nid: int) -> list[tuple[datetime, str]]:
    with store.session() as s:
        rows = s.scalars(select(Check).where(Check.notice_id == nid).order_by(Check.id)).all()
        return [(c.at, c.outcome) for c in rows]


def test_removal_is_midway_between_the_last_online_check_and_the_first_miss(
    store: Store, clock: SettableClock, site: Site, fetcher: GuardedFetcher
) -> None:
    path = f"/mid-{store.dialect}"
    site.status[path] = 200
    nid = _noticed(store, clock, site.url(path))
    # +1 h, +6 h, +24 h online; a single miss at +48 h, online again minutes later (a broken
    # streak: its miss is no removal); then gone for good.
    for _ in range(3):
        assert _next_check(store, clock, fetcher, nid) == "online"
    site.status[path] = 503
    assert _next_check(store, clock, fetcher, nid) == "offline"
    site.status[path] = 200
    assert _next_check(store, clock, fetcher, nid) == "online"
    site.status[path] = 404
    for _ in range(3):
        assert _next_check(store, clock, fetcher, nid) == "offline"
    checks = _checks(store, nid)
    assert [o for _, o in checks] == ["online"] * 3 + ["offline", "online"] + ["offline"] * 3
    last_online = checks[4][0]
    first_miss = checks[5][0]  # of the confirming streak, not the broken one at checks[3]
    assert first_miss - last_online > timedelta(hours=1)  # the two ends are far apart
    with store.session() as s:
        n = s.get_one(Notice, nid)
        assert n.status == "removed"
        assert n.removed_at == last_online + (first_miss - last_online) / 2
        assert n.last_online_at == last_online and n.first_offline_at == first_miss
        assert n.first_sent_at is not None
        midpoint = last_online + (first_miss - last_online) / 2
        assert removal_seconds(n) == (midpoint - n.first_sent_at).total_seconds()
        event = s.scalars(select(Event).where(Event.kind == "notice.removed")).one()
        assert event.payload["removal_seconds"] == removal_seconds(n)
        assert event.payload["last_online_at"] == last_online.isoformat()
        assert event.payload["first_offline_at"] == first_miss.isoformat()


def test_removed_before_any_online_check_counts_from_the_notice(
    store: Store, clock: SettableClock, site: Site, fetcher: GuardedFetcher
) -> None:
    path = f"/early-{store.dialect}"
    site.status[path] = 404
    nid = _noticed(store, clock, site.url(path))
    for _ in range(3):
        assert _next_check(store, clock, fetcher, nid) == "offline"
    first_miss = _checks(store, nid)[0][0]
    with store.session() as s:
        n = s.get_one(Notice, nid)
        assert n.status == "removed" and n.first_sent_at is not None
        assert n.last_online_at is None
        assert n.removed_at == n.first_sent_at + (first_miss - n.first_sent_at) / 2
        assert removal_seconds(n) == (first_miss - n.first_sent_at).total_seconds() / 2


def test_removal_instant_rule() -> None:
    sent = datetime(2024, 3, 1, 12, 0)
    online = sent + timedelta(hours=24)
    miss = sent + timedelta(hours=48)
    assert removal_instant(sent, online, miss) == sent + timedelta(hours=36)
    assert removal_instant(sent, None, miss) == sent + timedelta(hours=24)
    # an online sighting from before the notice does not move the lower end below the notice
    assert removal_instant(sent, sent - timedelta(days=2), miss) == sent + timedelta(hours=24)


def test_a_notice_still_online_has_no_removal_time() -> None:
    """Right-censored, never dropped: no removal time while online, and none for a notice that
    was never sent (it has no start)."""
    sent = datetime(2024, 3, 1, 12, 0)
    assert removal_seconds(Notice(first_sent_at=sent, removed_at=None)) is None
    assert removal_seconds(Notice(first_sent_at=None, removed_at=sent)) is None
    gone = Notice(first_sent_at=sent, removed_at=sent + timedelta(hours=36))
    assert removal_seconds(gone) == 36 * 3600
