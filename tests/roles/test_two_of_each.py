"""Two of a role on one PostgreSQL: each piece of work is done once, and neither process dies
on the other's work (notify's planning, review-sync's queueing, the monitor's scheduling;
delivery and re-check claims were already `FOR UPDATE SKIP LOCKED`)."""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from orbweaver.clock import SettableClock
from orbweaver.monitor import MonitorSettings, claim_due_checks
from orbweaver.notices import NoticeSettings, notify_pass
from orbweaver.review import ReviewQueue
from orbweaver.store import Store
from orbweaver.store.models import Media, Notice, NoticeItem, Outbox, ReviewItem, Sighting, Suspect
from roles.world import notices_world
from takedown.helpers import FixedAttributor, SmtpSink, media

pytestmark = pytest.mark.postgres
HOSTS = [f"h{i}.test" for i in range(4)]


class SlowAttributor:
    """Attribution that takes a while (RDAP does), so two planners overlap for sure."""

    def __init__(self, inner: FixedAttributor) -> None:
        self.inner = inner

    def attribute(self, session: Session, host: str, network: str) -> Any:
        time.sleep(0.2)
        return self.inner.attribute(session, host, network)


def run_together(*calls: Any) -> list[BaseException | None]:
    """Each call in its own thread, started together; what each raised, if anything."""
    errors: list[BaseException | None] = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def runner(i: int) -> None:
        start.wait()
        try:
            calls[i]()
        except BaseException as exc:
            errors[i] = exc

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return errors


def test_two_notifiers_plan_each_detection_once_and_send_each_message_once(
    pg_store: Store, clock: SettableClock
) -> None:
    att = SlowAttributor(notices_world(pg_store, clock, HOSTS))
    with SmtpSink() as sink:
        settings = NoticeSettings(smtp_host="127.0.0.1", smtp_port=sink.port)
        errors = run_together(
            lambda: notify_pass(pg_store, clock, att, settings),
            lambda: notify_pass(pg_store, clock, att, settings),
        )
        assert errors == [None, None]
        notify_pass(pg_store, clock, att, settings)  # whatever one skipped, nothing is left
        ids = sorted(str(m["Message-ID"]) for m in sink.messages)
    with pg_store.session() as s:
        assert s.scalar(select(func.count()).select_from(Notice)) == len(HOSTS)
        per_detection = s.execute(
            select(NoticeItem.detection_id, func.count()).group_by(NoticeItem.detection_id)
        ).all()
        assert sorted(n for _, n in per_detection) == [1] * len(HOSTS)
        assert s.scalars(select(Outbox.status)).all() == ["sent"] * len(HOSTS)
    assert len(ids) == len(set(ids)) == len(HOSTS)


def test_a_notifier_leaves_planning_to_the_one_doing_it(
    pg_store: Store, clock: SettableClock
) -> None:
    att = notices_world(pg_store, clock, HOSTS)
    settings = NoticeSettings(smtp_host="127.0.0.1", smtp_port=1)
    with pg_store.session() as other:  # another notifier, mid-planning
        assert pg_store.try_lock(other, "notices.planning")
        assert notify_pass(pg_store, clock, att, settings).plan.notices == 0
    assert notify_pass(pg_store, clock, att, settings).plan.notices == len(HOSTS)


def _suspects_of_one_media(store: Store, clock: SettableClock, n: int) -> int:
    now = clock.now().replace(tzinfo=None)
    with store.session() as s:
        m: Media = media(s, now, "shared picture")
        for i in range(n):
            sighting = Sighting(
                media_id=m.id,
                url=f"http://site{i}.test/p.png",
                page_url=None,
                host=f"site{i}.test",
                network="clear",
                seen_at=now,
            )
            s.add(sighting)
            s.flush()
            s.add(Suspect(sighting_id=sighting.id, media_id=m.id, status="pending", created_at=now))
        return m.id


def test_two_review_syncs_make_one_item_of_one_media(
    pg_store: Store, clock: SettableClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    media_id = _suspects_of_one_media(pg_store, clock, 2)
    meet = threading.Barrier(2, timeout=3)
    ingest = ReviewQueue._ingest

    def together(self: ReviewQueue, *args: Any) -> None:
        # both syncs inside a batch at once, each with one suspect of the media; or, when the
        # other did not come (it found the sync taken), this one goes on alone
        with contextlib.suppress(threading.BrokenBarrierError):
            meet.wait()
        ingest(self, *args)

    monkeypatch.setattr(ReviewQueue, "_ingest", together)
    queues = [ReviewQueue(pg_store, clock), ReviewQueue(pg_store, clock)]
    errors = run_together(*(lambda q=q: q.sync(batch=1) for q in queues))
    assert errors == [None, None]
    queues[0].sync()
    with pg_store.session() as s:
        items = s.scalars(select(ReviewItem).where(ReviewItem.media_id == media_id)).all()
        assert len(items) == 1
        assert s.scalar(select(func.count()).where(Suspect.status == "pending")) == 0


def test_a_monitor_schedules_around_rows_another_one_is_scheduling(
    pg_store: Store, clock: SettableClock
) -> None:
    att = notices_world(pg_store, clock, HOSTS)
    with SmtpSink() as sink:
        settings = NoticeSettings(smtp_host="127.0.0.1", smtp_port=sink.port)
        assert notify_pass(pg_store, clock, att, settings).delivery.sent == len(HOSTS)
    clock.advance(timedelta(hours=2))
    monitor = MonitorSettings(recheck_schedule_hours=[1.0])
    with pg_store.session() as other:  # another monitor, scheduling these rows right now
        other.execute(sa.select(Notice.id).with_for_update())
        done = threading.Event()
        claimed: list[int] = []

        def claim() -> None:
            claimed.extend(claim_due_checks(pg_store, clock, monitor, 100))
            done.set()

        threading.Thread(target=claim, daemon=True).start()
        assert done.wait(10), "the second monitor waited for the first one's rows"
        assert claimed == []
    assert len(claim_due_checks(pg_store, clock, monitor, 100)) == len(HOSTS)
