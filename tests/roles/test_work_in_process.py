"""What the roles' loops do in one process: a stop hands back the work not started (outbox
claims, monitor claims), the work done moves the metrics, the queues are read from the store,
and `/livez`, `/readyz`, `/metrics` answer (on a role's own port and on the web app)."""

from __future__ import annotations

import json
import threading
import urllib.request
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import select

from orbweaver.clock import SettableClock
from orbweaver.monitor import MonitorSettings, check_due
from orbweaver.net import FetchResult
from orbweaver.notices import NoticeSettings, deliver_due, notify_pass
from orbweaver.ops import Check, Health, HealthServer, QueueCollector, store_probes
from orbweaver.store import Store, open_store
from orbweaver.store.models import Notice, Outbox
from roles.world import notices_world
from takedown.helpers import SmtpSink, free_port

HOSTS = ["h0.test", "h1.test", "h2.test"]


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _settings(port: int, **kw: Any) -> NoticeSettings:
    return NoticeSettings(
        smtp_host="127.0.0.1",
        smtp_port=port,
        notice_from="n@hotline.test",
        notice_domain="hotline.test",
        **kw,
    )


class StopAfterFirst:
    """A transport that sets `stop` once it has sent one message (a SIGTERM mid-batch)."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.sent: list[Any] = []

    def send_email(self, msg: Any) -> None:
        self.sent.append(msg)
        self.stop.set()

    def post_webhook(self, url: str, report: Any, key: str) -> None:
        raise AssertionError("no webhooks here")

    def close(self) -> None:
        pass


def test_a_stop_mid_batch_sends_the_message_in_flight_and_hands_back_the_rest(
    store: Store, clock: SettableClock
) -> None:
    att = notices_world(store, clock, HOSTS)
    settings = _settings(free_port(), delivery_lease_s=300)  # nobody listens: all retried
    assert notify_pass(store, clock, att, settings).delivery.retried == 3
    clock.advance(timedelta(minutes=2))  # the three are due again
    stop = threading.Event()
    transport = StopAfterFirst(stop)
    stats = deliver_due(store, clock, transport, settings, stop=stop)  # type: ignore[arg-type]
    assert (stats.sent, stats.released) == (1, 2)
    with store.session() as s:
        rows = s.scalars(select(Outbox).order_by(Outbox.id)).all()
        assert [r.status for r in rows] == ["sent", "pending", "pending"]
        now = clock.now().replace(tzinfo=None)
        # due now, not at the end of the 300 s lease: another notifier sends them at once
        assert all(r.next_attempt_at == now for r in rows[1:])


class Fetcher:
    """Answers every re-check as gone; sets `stop` at the first one (a SIGTERM mid-batch)."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.fetched: list[str] = []

    def get(self, url: str, kind: str = "media") -> FetchResult:
        self.fetched.append(url)
        self.stop.set()
        return FetchResult(url=url, status=404, error="HTTP 404")


def test_a_stop_mid_batch_records_the_checks_done_and_hands_back_the_others(
    store: Store, clock: SettableClock
) -> None:
    att = notices_world(store, clock, HOSTS)
    with SmtpSink() as sink:
        assert notify_pass(store, clock, att, _settings(sink.port)).delivery.sent == 3
    clock.advance(timedelta(hours=2))
    settings = MonitorSettings(recheck_schedule_hours=[1.0], monitor_concurrency=1)
    stop = threading.Event()
    fetcher = Fetcher(stop)
    before = sample("orbweaver_monitor_checks_total", outcome="offline")
    stats = check_due(store, clock, fetcher, settings, stop=stop)  # type: ignore[arg-type]
    assert stats.checked == len(fetcher.fetched) >= 1
    assert stats.checked < 3
    assert sample("orbweaver_monitor_checks_total", outcome="offline") == before + stats.checked
    now = clock.now().replace(tzinfo=None)
    with store.session() as s:
        notices = s.scalars(select(Notice).order_by(Notice.id)).all()
        unchecked = [n for n in notices if n.checks_done == 0]
        assert len(unchecked) == 3 - stats.checked
        assert all(n.next_check_at == now for n in unchecked)  # handed back, due now


def test_the_work_moves_the_counters_and_the_queues_come_from_the_store(
    store: Store, clock: SettableClock
) -> None:
    att = notices_world(store, clock, HOSTS)
    queues = QueueCollector(store, clock, ["outbox", "followups", "rechecks"])

    def depth(name: str) -> tuple[float, float]:
        found: dict[tuple[str, str], float] = {}
        for family in queues.collect():
            for s in family.samples:
                found[(s.name, s.labels.get("queue", ""))] = s.value
        assert found[("orbweaver_queue_scrape_ok", "")] == 1
        return (
            found[("orbweaver_queue_due_items", name)],
            found[("orbweaver_queue_oldest_due_age_seconds", name)],
        )

    sent = sample("orbweaver_notices_messages_sent_total")
    created = sample("orbweaver_notices_created_total")
    with SmtpSink() as sink:
        down = _settings(free_port())  # nobody listens there
        notify_pass(store, clock, att, down)
        assert sample("orbweaver_notices_created_total") == created + 3
        assert sample("orbweaver_errors_total", stage="notices", kind="delivery_transient") >= 3
        clock.advance(timedelta(minutes=90))
        due, age = depth("outbox")
        assert due == 3 and age == pytest.approx(90 * 60 - 60, abs=1)  # retried after 60 s
        notify_pass(store, clock, att, _settings(sink.port))
    assert sample("orbweaver_notices_messages_sent_total") == sent + 3
    assert depth("outbox") == (0, 0)
    clock.advance(timedelta(hours=30))  # the first re-checks (1 h) and follow-ups (24 h)
    assert depth("rechecks")[0] == 3
    assert depth("followups")[0] == 3 and depth("followups")[1] > 0


def test_follow_ups_held_back_on_purpose_are_not_due(store: Store, clock: SettableClock) -> None:
    """A notice awaiting confirmation of a miss, or whose last round is still undelivered (an
    SMTP outage), gets no follow-up (`schedule_rounds`): the queue says the same, so its gauge
    does not report a backlog nobody will drain (the fault campaign's settle waited on it)."""
    att = notices_world(store, clock, HOSTS)
    with SmtpSink() as sink:
        assert notify_pass(store, clock, att, _settings(sink.port)).delivery.sent == 3
    clock.advance(timedelta(hours=30))
    queues = QueueCollector(store, clock, ["followups"])
    assert queues.read()["followups"].due == 3
    now = clock.now().replace(tzinfo=None)
    with store.session() as s:
        first, second, _ = s.scalars(select(Notice).order_by(Notice.id)).all()
        first.miss_count = 1  # a miss, its confirmation due in minutes
        held = s.scalars(select(Outbox).where(Outbox.notice_id == second.id)).first()
        assert held is not None
        held.status, held.next_attempt_at = "pending", now + timedelta(minutes=10)  # retrying
    assert queues.read()["followups"].due == 1
    notify_pass(store, clock, att, _settings(free_port()))  # schedules the one it may, SMTP down
    assert queues.read()["followups"].due == 0


def test_the_queues_know_the_unsent_statuses_of_the_outbox() -> None:
    from orbweaver.notices.outbox import UNSENT_STATUSES
    from orbweaver.ops.metrics import UNSENT

    assert set(UNSENT) == set(UNSENT_STATUSES)


def test_the_queue_collector_says_so_when_the_store_is_unreadable(
    tmp_path: Any, clock: SettableClock
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'gone' / 'x.db'}", upgrade=False)
    (tmp_path / "gone").rmdir()  # the folder of a database that never existed
    families = list(QueueCollector(store, clock, ["outbox"]).collect())
    assert [(f.name, f.samples[0].value) for f in families] == [("orbweaver_queue_scrape_ok", 0)]


def _get(url: str) -> tuple[int, str]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=10) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_a_role_s_health_server_answers_livez_readyz_and_metrics(
    sqlite_store: Store, tmp_path: Any
) -> None:
    health = Health("notify", timeout_s=5)
    server = HealthServer(health, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        assert _get(f"{base}/livez")[0] == 200
        code, body = _get(f"{base}/readyz")
        assert code == 503 and json.loads(body)["status"] == "starting"
        health.set_probes(store_probes(sqlite_store))
        code, body = _get(f"{base}/readyz")
        assert code == 200, body
        assert json.loads(body)["checks"]["migrations"]["ok"] is True
        code, body = _get(f"{base}/metrics")
        assert code == 200 and "process_resident_memory_bytes" in body
        # a store whose schema is behind the code: not ready, and it says why
        behind = open_store(f"sqlite:///{tmp_path / 'new.db'}", upgrade=False)
        health.set_probes(store_probes(behind))
        code, body = _get(f"{base}/readyz")
        checks = json.loads(body)["checks"]
        assert code == 503 and checks["migrations"]["ok"] is False
        assert "db upgrade" in checks["migrations"]["detail"]
        health.ended = "RuntimeError: boom"
        assert _get(f"{base}/livez")[0] == 503
        assert _get(f"{base}/nothing")[0] == 404
    finally:
        server.stop()


def test_a_probe_that_hangs_makes_the_role_not_ready_within_the_deadline() -> None:
    release = threading.Event()

    def hanging() -> Check:
        release.wait(30)
        return Check("store", True)

    health = Health("monitor", timeout_s=0.3)
    health.set_probes([hanging])
    try:
        ok, doc = health.ready()
        assert not ok and "no answer within 0.3 s" in json.dumps(doc)
        ok, doc = health.ready()  # not started twice while the first still hangs
        assert not ok and "has not returned yet" in json.dumps(doc)
    finally:
        release.set()


def test_the_web_app_answers_livez_readyz_and_metrics(sqlite_store: Store) -> None:
    from orbweaver.roles import ProductSettings, build_web_app

    app = build_web_app(ProductSettings(), store=sqlite_store)
    with TestClient(app) as client:
        assert client.get("/livez").status_code == 200
        ready = client.get("/readyz")
        assert set(ready.json()["checks"]) == {"store", "migrations", "index"}
        metrics = client.get("/metrics")
        assert metrics.status_code == 200 and "process_cpu_seconds_total" in metrics.text
        assert "/readyz" not in client.get("/openapi.json").text
