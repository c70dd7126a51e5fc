"""Casework (issue 19) end to end on the simulated world: the re-check just before a first
notice, and holds. Detections are rows naming URLs the world hosts, with the media's sha256 of
the bytes the world serves (fetched through the product's policy, as the crawl would have);
notices go out over the world's SMTP on loopback and the world's ledger says what arrived."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from orbweaver.monitor import MonitorSettings, check_due
from orbweaver.net import GuardedFetcher, Resolver
from orbweaver.notices.holds import add_hold, release_hold
from orbweaver.notices.runner import notify_pass
from orbweaver.reports.load import load_inputs
from orbweaver.sim.scenario import SCENARIO_DIR
from orbweaver.store import Store
from orbweaver.store.models import GONE_PRE_NOTICE, Check, Event, Media, Notice, Outbox
from takedown.helpers import detect, world_policy
from takedown.test_world_notices import _online_items, _product

SCENARIO = SCENARIO_DIR / "small.toml"
MON = MonitorSettings(
    recheck_schedule_hours=[1, 6, 24],
    recheck_every_hours=24,
    offline_confirm_misses=2,
    offline_confirm_spacing_minutes=5,
)


@pytest.fixture
def world() -> Iterator[object]:
    from orbweaver.sim import World

    with World.start(SCENARIO, scale=0.5, seed=11) as w:
        yield w


def _fetcher(world: object) -> GuardedFetcher:
    info = world.info  # type: ignore[attr-defined]
    return GuardedFetcher(world_policy(info, timeout=10), Resolver([info["dns"]], cache_ttl=0))


def _sight(store: Store, world: object, fetcher: GuardedFetcher, items: list[object]) -> None:
    """Detections of the bytes the world serves at each item's URL now."""
    now = world.clock.now().replace(tzinfo=None)  # type: ignore[attr-defined]
    with store.session() as s:
        for item in items:
            body = fetcher.get(item.url).body  # type: ignore[attr-defined]
            assert body, item.url  # type: ignore[attr-defined]
            m = Media(
                sha256=hashlib.sha256(body).hexdigest(),
                sha1="0" * 40,
                md5="0" * 32,
                size_bytes=len(body),
                first_seen_at=now,
            )
            s.add(m)
            s.flush()
            detect(s, now, item.url, m=m)  # type: ignore[attr-defined]


def _ledger_urls(world: object) -> set[str]:
    return {n.url for n in world.engine.ledger.notices}  # type: ignore[attr-defined]


def test_content_removed_between_detection_and_notice_is_not_noticed(
    world: object, store: Store, tmp_path: Path
) -> None:
    attributor, settings, transport = _product(world, tmp_path)
    fetcher = _fetcher(world)
    items = _online_items(world, 3)
    _sight(store, world, fetcher, items)
    gone = items[0]
    gone.gone_at = world.clock.now()  # type: ignore[attr-defined]  # its owner took it down
    world.clock.advance(timedelta(minutes=1))  # type: ignore[attr-defined]

    stats = notify_pass(store, world.clock, attributor, settings, transport, fetcher=fetcher)  # type: ignore[attr-defined]

    assert stats.delivery.gone == 1 and stats.delivery.sent == 2
    assert gone.url not in _ledger_urls(world)  # type: ignore[attr-defined]
    assert {i.url for i in items[1:]} <= _ledger_urls(world)  # type: ignore[attr-defined]
    with store.session() as s:
        n = s.scalars(select(Notice).where(Notice.url == gone.url)).one()  # type: ignore[attr-defined]
        assert n.status == GONE_PRE_NOTICE and n.first_sent_at is None
        assert {o.status for o in s.scalars(select(Outbox).where(Outbox.notice_id == n.id))} == {
            "dropped"
        }
        kinds = set(s.scalars(select(Event.kind).where(Event.subject_id == n.id)))
        assert "notice.gone_before_notice" in kinds
        sent = s.scalars(select(Notice).where(Notice.status == "open")).all()
        assert len(sent) == 2 and all(x.prechecked_at is not None for x in sent)
    inputs = load_inputs(store)
    assert inputs.removed_before_notice == 1
    assert len(inputs.notices) == 2  # not among the notices whose removal time is measured
    # nothing comes back from a second pass: the dropped notice stays unsent
    again = notify_pass(store, world.clock, attributor, settings, transport, fetcher=fetcher)  # type: ignore[attr-defined]
    assert again.delivery.sent == 0 and gone.url not in _ledger_urls(world)  # type: ignore[attr-defined]


def test_precheck_that_cannot_tell_delays_then_sends(
    world: object, store: Store, tmp_path: Path
) -> None:
    """A DNS outage at the re-check: the notice is neither dropped nor sent at once; it is
    re-checked later, and sent anyway after `precheck_attempts` tries."""
    attributor, settings, transport = _product(
        world, tmp_path, precheck_attempts=2, precheck_retry_minutes=10
    )
    fetcher = _fetcher(world)
    (item,) = _online_items(world, 1)
    _sight(store, world, fetcher, [item])
    info = world.info  # type: ignore[attr-defined]
    dead_dns = GuardedFetcher(world_policy(info, timeout=2), Resolver(["127.0.0.1:9"], timeout=0.5))
    first = notify_pass(store, world.clock, attributor, settings, transport, fetcher=dead_dns)  # type: ignore[attr-defined]
    assert first.delivery.deferred == 1 and first.delivery.sent == 0
    assert item.url not in _ledger_urls(world)  # type: ignore[attr-defined]
    world.clock.advance(timedelta(minutes=11))  # type: ignore[attr-defined]
    second = notify_pass(store, world.clock, attributor, settings, transport, fetcher=dead_dns)  # type: ignore[attr-defined]
    assert second.delivery.sent == 1 and item.url in _ledger_urls(world)  # type: ignore[attr-defined]
    with store.session() as s:
        ev = s.scalars(select(Event).where(Event.kind == "notice.prechecked")).one()
        assert ev.payload["outcome"] == "unclear" and ev.payload["tries"] == 2


def test_held_url_gets_no_notice_while_rechecks_go_on_and_release_sends(
    world: object, store: Store, tmp_path: Path
) -> None:
    attributor, settings, transport = _product(world, tmp_path, followup_interval_hours=2)
    fetcher = _fetcher(world)
    items = _online_items(world, 2)
    early, late = items
    _sight(store, world, fetcher, [early])
    clock = world.clock  # type: ignore[attr-defined]
    assert (
        notify_pass(store, clock, attributor, settings, transport, fetcher=fetcher).delivery.sent
        == 1
    )
    with store.session() as s:
        held = add_hold(s, clock, "url", early.url, reason="police ref 42", actor="test")  # type: ignore[attr-defined]
        add_hold(s, clock, "url", late.url, reason="police ref 42", actor="test")  # type: ignore[attr-defined]
    _sight(store, world, fetcher, [late])
    ledger_before = len(world.engine.ledger.notices)  # type: ignore[attr-defined]
    checks = 0
    for _ in range(6):  # 6 × 1.5 h: follow-ups of `early` fall due, re-checks come due
        clock.advance(timedelta(hours=1.5))
        stats = notify_pass(store, clock, attributor, settings, transport, fetcher=fetcher)
        assert stats.delivery.sent == 0
        checks += check_due(store, clock, fetcher, MON).checked
    assert len(world.engine.ledger.notices) == ledger_before  # type: ignore[attr-defined]
    assert late.url not in _ledger_urls(world)  # type: ignore[attr-defined]
    assert checks >= 2  # monitoring went on
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Check)) == checks
        for h in s.scalars(select(Event).where(Event.kind == "hold.added")):
            assert h.actor == "test"
    with store.session() as s:
        for hold_id in (held.id, held.id + 1):
            release_hold(s, clock, hold_id, actor="test")
    stats = notify_pass(store, clock, attributor, settings, transport, fetcher=fetcher)
    assert stats.delivery.sent == 2  # late's first notice, early's follow-up
    assert late.url in _ledger_urls(world)  # type: ignore[attr-defined]
    with store.session() as s:
        n = s.scalars(select(Notice).where(Notice.url == early.url)).one()  # type: ignore[attr-defined]
        assert n.held_seconds == pytest.approx(9 * 3600, rel=0.01)
        assert n.rounds_sent == 2
    inputs = load_inputs(store)
    assert inputs.held_notices == 2 and inputs.held_days > 0.3


def test_hold_values_are_checked(store: Store) -> None:
    from datetime import UTC, datetime

    from orbweaver.clock import SettableClock
    from orbweaver.notices.holds import HoldError

    clock = SettableClock(datetime(2026, 1, 1, tzinfo=UTC))
    with store.session() as s:
        with pytest.raises(HoldError):
            add_hold(s, clock, "planet", "x", reason="r", actor="t")
        with pytest.raises(HoldError):
            add_hold(s, clock, "url", "ftp://a/b", reason="r", actor="t")
        with pytest.raises(HoldError):
            add_hold(s, clock, "case", "abc", reason="r", actor="t")
        with pytest.raises(HoldError):
            add_hold(s, clock, "host", "a.example", reason=" ", actor="t")
        h = add_hold(s, clock, "host", "Sub.Example.ORG:8080", reason="r", actor="t")
        assert h.value == "sub.example.org"
        release_hold(s, clock, h.id, actor="t")
        with pytest.raises(HoldError):
            release_hold(s, clock, h.id, actor="t")
