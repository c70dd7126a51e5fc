"""Monitor: schedule, outcomes through the crawl policy, offline confirmation, removal time,
follow-ups stopping, and two workers claiming without overlap on PostgreSQL."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from orbweaver.clock import SettableClock
from orbweaver.monitor import (
    MonitorSettings,
    check_due,
    due_after,
    next_scheduled,
    removal_seconds,
)
from orbweaver.net import GuardedFetcher, NetworkPolicy, Resolver
from orbweaver.store import Store
from orbweaver.store.models import Check, Notice
from takedown.helpers import noticed_bytes


class Site:
    """A loopback web server whose content the test changes: path -> (status, bytes)."""

    def __init__(self) -> None:
        self.content: dict[str, tuple[int, bytes]] = {}
        self.hits = 0
        site = self

        class H(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.hits += 1
                status, body = site.content.get(self.path, (404, b"gone"))
                self.send_response(status)
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


def _picture(seed: int, quality: int = 90) -> bytes:
    """A synthetic picture of a gradient and a few shapes (benign by construction)."""
    from PIL import ImageDraw

    img = Image.linear_gradient("L").resize((256, 256)).convert("RGB")
    draw = ImageDraw.Draw(img)
    for i in range(4):
        x, y = (seed * 37 + i * 71) % 200, (seed * 53 + i * 29) % 200
        draw.ellipse((x, y, x + 50, y + 40), fill=((seed * 40 + i * 60) % 256, 80, 160))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality)
    return out.getvalue()


def _fetcher(allow: str = "127.0.0.1/32") -> GuardedFetcher:
    policy = NetworkPolicy(allow_networks=[__import__("ipaddress").ip_network(allow)], timeout=5)
    return GuardedFetcher(policy, Resolver([]))


SETTINGS = MonitorSettings(
    recheck_schedule_hours=[1, 6, 24],
    recheck_every_hours=24,
    offline_confirm_misses=3,
    offline_confirm_spacing_minutes=5,
)


def _noticed(store: Store, clock: SettableClock, url: str, body: bytes) -> int:
    from orbweaver.signals import compute_signals

    sig = compute_signals(body)
    return noticed_bytes(
        store, clock.now(), url, body, "127.0.0.1", pdq=sig.pdq, pdq_quality=sig.pdq_quality
    )


def test_schedule() -> None:
    t0 = datetime(2021, 1, 1)
    assert [due_after(t0, k, SETTINGS) - t0 for k in range(5)] == [
        timedelta(hours=h) for h in (1, 6, 24, 48, 72)
    ]
    assert next_scheduled(t0, t0 + timedelta(hours=7), SETTINGS) == t0 + timedelta(hours=24)
    assert next_scheduled(t0, t0 + timedelta(days=10, hours=1), SETTINGS) == t0 + timedelta(days=11)


def _run_until(
    store: Store,
    clock: SettableClock,
    until: datetime,
    fetcher: GuardedFetcher,
    step: timedelta = timedelta(minutes=5),
) -> None:
    while clock.now() < until:
        clock.advance(step)
        check_due(store, clock, fetcher, SETTINGS)


def test_online_then_confirmed_offline_gives_removal_time_within_one_interval(
    store: Store, clock: SettableClock, site: Site
) -> None:
    body = _picture(3)
    path = f"/a-{store.dialect}.jpg"
    site.content[path] = (200, body)
    nid = _noticed(store, clock, site.url(path), body)
    start = clock.now()
    fetcher = _fetcher()
    _run_until(store, clock, start + timedelta(hours=30), fetcher)
    removed_at = clock.now()
    site.content[path] = (404, b"")  # removed between the 24 h and 48 h checks
    _run_until(store, clock, start + timedelta(hours=50), fetcher)
    with store.session() as s:
        n = s.get_one(Notice, nid)
        outcomes = [c.outcome for c in s.scalars(select(Check).where(Check.notice_id == nid))]
        assert n.status == "removed" and n.offline_confirmed_at is not None
        true = (removed_at - start).total_seconds()
        est = removal_seconds(n)
        assert est is not None and abs(est - true) <= 24 * 3600
        assert outcomes == ["online"] * 3 + ["offline"] * 3
        # the misses were minutes apart, not one error
        misses = s.scalars(
            select(Check.at).where(Check.notice_id == nid, Check.outcome == "offline")
        ).all()
        assert misses[1] - misses[0] == timedelta(minutes=5)


def test_a_single_miss_is_not_removal_and_reencodes_are_online(
    store: Store, clock: SettableClock, site: Site
) -> None:
    body = _picture(5)
    path = f"/b-{store.dialect}.jpg"
    site.content[path] = (200, body)
    nid = _noticed(store, clock, site.url(path), body)
    fetcher = _fetcher()
    clock.advance(timedelta(hours=1))
    site.content[path] = (503, b"")
    check_due(store, clock, fetcher, SETTINGS)
    site.content[path] = (200, _picture(5, quality=60))  # same picture, other bytes
    clock.advance(timedelta(minutes=5))
    check_due(store, clock, fetcher, SETTINGS)
    site.content[path] = (200, _picture(77))  # another picture: the noticed one is gone
    clock.advance(timedelta(hours=6))
    check_due(store, clock, fetcher, SETTINGS)
    with store.session() as s:
        checks = s.scalars(select(Check).where(Check.notice_id == nid).order_by(Check.id)).all()
        assert [c.outcome for c in checks] == ["offline", "online", "changed"]
        assert "PDQ" in checks[1].detail
        n = s.get_one(Notice, nid)
        assert n.status == "open" and n.miss_count == 1


def test_policy_refusal_is_a_miss_without_a_packet(
    store: Store, clock: SettableClock, site: Site
) -> None:
    path = f"/c-{store.dialect}.jpg"
    site.content[path] = (200, _picture(9))
    nid = _noticed(store, clock, site.url(path), _picture(9))
    hits = site.hits
    clock.advance(timedelta(hours=1))
    check_due(store, clock, _fetcher(allow="127.0.0.2/32"), SETTINGS)
    assert site.hits == hits
    with store.session() as s:
        c = s.scalars(select(Check).where(Check.notice_id == nid)).one()
        assert c.outcome == "offline" and "ALLOW_NETWORKS" in c.detail


WORKER = """
import json, sys
from datetime import timedelta
from orbweaver.clock import SettableClock, ensure_utc
from orbweaver.monitor import MonitorSettings, claim_due_checks
from orbweaver.store import open_store
from datetime import datetime
store = open_store(sys.argv[1], upgrade=False)
clock = SettableClock(datetime.fromisoformat(sys.argv[2]))
import time
time.sleep(max(0.0, float(sys.argv[3]) - time.time()))  # both workers start claiming together
got = []
while True:
    ids = claim_due_checks(store, clock, MonitorSettings(), 7)
    if not ids:
        break
    got += ids
print(json.dumps(got))
"""


@pytest.mark.postgres
def test_two_monitor_processes_claim_without_overlap_on_postgres(
    pg_store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    store = pg_store
    now = clock.now().replace(tzinfo=None)
    with store.session() as s:
        for i in range(400):
            s.add(
                Notice(
                    url=f"http://x.test/{i}",
                    kind="media",
                    host="x.test",
                    report_id=f"{i:032d}",
                    category="csam_prepubescent",
                    status="open",
                    created_at=now,
                    first_sent_at=now - timedelta(hours=2),
                    next_check_at=now - timedelta(minutes=1),
                )
            )
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    import time

    start_at = str(time.time() + 8)  # after both interpreters have imported and connected
    args = [sys.executable, str(script), store.url, clock.now().isoformat(), start_at]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    a, b = set(outs[0]), set(outs[1])
    assert not a & b
    assert len(a | b) == 400 and len(outs[0]) + len(outs[1]) == 400
    assert a and b  # both did work
    store.dispose()


def test_the_store_keeps_the_cadence_the_reports_state(
    store: Store, clock: SettableClock, site: Site
) -> None:
    """A report states the cadence its removal times were measured with, whoever runs it."""
    from orbweaver.monitor import CADENCE_EVENT, claim_due_checks
    from orbweaver.reports import load_inputs
    from orbweaver.store.models import Event

    unusual = MonitorSettings(
        recheck_schedule_hours=[2.0, 12.0], recheck_every_hours=6.0, offline_confirm_misses=4
    )
    body = _picture(5)
    path = f"/cadence-{store.dialect}.jpg"
    site.content[path] = (200, body)
    _noticed(store, clock, site.url(path), body)
    assert "+1 h, +6 h, +24 h" in load_inputs(store).recheck_cadence  # nothing recorded yet
    claim_due_checks(store, clock, unusual, 10)
    _noticed(store, clock, site.url(path + "?again"), _picture(6))
    claim_due_checks(store, clock, unusual, 10)  # same cadence: not recorded twice
    text = load_inputs(store).recheck_cadence
    assert text.startswith("+2 h, +12 h, then every 6 h while online")
    assert "offline confirmed by 4 misses" in text
    with store.session() as s:
        assert len(s.scalars(select(Event).where(Event.kind == CADENCE_EVENT)).all()) == 1
