"""Statistical fidelity: a perfect notifier drives the behaviour engine directly (no network).

The scenario's figures are those of its reference practice (a first notice, then one every 24 h
until the content is gone), so that practice must reproduce them; other practices are departures.
"""

from __future__ import annotations

import dataclasses
import heapq
from datetime import datetime, timedelta
from typing import Any

import pytest

from orbweaver.sim import catalogue, practice, scenario
from orbweaver.sim.behaviour import Engine, lognormal_days
from orbweaver.sim.catalogue import Item, Party
from orbweaver.sim.clock import WorldClock
from orbweaver.sim.scenario import SCENARIO_DIR, SiteSpec
from orbweaver.sim.truth import export, km_quantile

SCENARIOS = SCENARIO_DIR
DETECT = timedelta(days=1)


def first_notices_only(engine: Engine, horizon: datetime) -> None:
    """Notice every actionable placement once, one day after it appears, re-uploads included."""
    cat = engine.cat
    heap: list[tuple[datetime, int]] = []

    def push(start: int) -> None:
        for item in cat.items[start:]:
            if any(cat.images[i].label != "benign" for i in item.image_ids):
                heapq.heappush(heap, (item.uploaded_at + DETECT, item.id))

    push(0)
    while heap:
        when, item_id = heapq.heappop(heap)
        if when > horizon:
            break
        item = cat.items[item_id]
        before = len(cat.items)
        assert item.site.frontline is not None
        engine.receive(item.site.frontline, item.url, when=when)
        push(before)


def table_world(per_provider: int, seed: int, **behaviour: Any) -> Engine:
    sc = scenario.load(SCENARIOS / "table-1.0.csv")
    providers = tuple(
        dataclasses.replace(
            p,
            targeted=per_provider,
            sites=(SiteSpec("image_host", 2),),
            behaviour=dataclasses.replace(p.behaviour, reupload_delay_days=5.0, **behaviour),
        )
        for p in sc.providers
    )
    world = dataclasses.replace(
        sc.world, initial_share=1.0, benign_per_actionable=0.0, registrars=1
    )
    sc = dataclasses.replace(sc, world=world, providers=providers)
    cat, builder = catalogue.build(sc, scale=1.0, seed=seed)
    return Engine(cat, builder, WorldClock(world.start), seed)


def _first_item(party: Party) -> Item:
    return next(i for s in party.sites for i in s.items)


@pytest.mark.slow
def test_every_provider_matches_its_table_row_within_ten_percent() -> None:
    """Under the reference practice (daily notices until gone, every re-upload noticed), with
    no horizon in sight, each row comes back within 10%; half of the slow removals wait for
    reminders (the scenario default), which the daily notices always give."""
    engine = table_world(per_provider=400, seed=11)
    horizon = engine.cat.scenario.world.start + timedelta(days=365 * 40)
    practice.run(engine, practice.ARACHNID, horizon)
    truth = export(engine, now=horizon, images=False)
    for row in truth["providers"]:
        if row["service_type"] == "registrar":
            continue
        want = row["scenario"]
        assert row["targeted"] >= 400
        for key in ("removal_median_days", "removal_p90_days", "recidivism_rate"):
            assert row[key] == pytest.approx(want[key], rel=0.10), (
                row["name"],
                key,
                row[key],
                want[key],
            )


def test_lognormal_fit_hits_median_and_p90() -> None:
    assert lognormal_days(6, 60, 0.5) == pytest.approx(6)
    assert lognormal_days(6, 60, 0.9) == pytest.approx(60)
    assert lognormal_days(1, 1, 0.99) == pytest.approx(1)  # point mass when p90 == median
    assert lognormal_days(0, 5, 0.5) == pytest.approx(1 / 24)  # a zero median is one hour


def test_kaplan_meier_keeps_censored_episodes() -> None:
    # half removed after 1 day, half still online after 10: the median is 1, the p90 unknown
    durations = [(1.0, True)] * 5 + [(10.0, False)] * 5
    assert km_quantile(durations, 0.5) == 1.0
    assert km_quantile(durations, 0.9) is None


def test_daily_reminders_change_nothing_the_table_already_counts() -> None:
    """A removal drawn at the first notice stays where it is however many reminders follow."""
    engine = table_world(per_provider=20, seed=2, reminder_dependence=0.0)
    slow = engine.cat.party("ColoCrossing")
    item = _first_item(slow)
    t0 = item.uploaded_at + DETECT
    assert engine.receive(slow, item.url, when=t0).outcome == "host:removal-scheduled"
    first = item.removed_at
    assert first is not None
    for rnd in range(2, 12):
        notice = engine.receive(
            slow, item.url, tags=(f"orbweaver:round-{rnd}",), when=t0 + timedelta(days=rnd - 1)
        )
        assert notice.outcome in ("follow-up:no-change", "already-offline")
    assert item.removed_at == first


def test_a_removal_that_waits_for_reminders() -> None:
    """With reminder_dependence 1 a slow removal happens at its drawn time only when a reminder
    arrived within the window before it; reminded late, at that reminder; never reminded,
    never (until an escalation)."""
    engine = table_world(per_provider=30, seed=4, reminder_dependence=1.0)
    slow = engine.cat.party("ColoCrossing")  # median 27 days: far beyond a 2-day window
    window = timedelta(days=slow.behaviour.reminder_window_days)
    items = [i for s in slow.sites for i in s.items][:3]
    t0 = max(i.uploaded_at for i in items) + DETECT
    for item in items:
        assert engine.receive(slow, item.url, when=t0).outcome == "host:awaiting-reminders"
        assert item.removed_at is None and item.due_at is not None
    on_time, late, never = items
    due = on_time.due_at
    assert due is not None
    early = engine.receive(slow, on_time.url, tags=("orbweaver:round-2",), when=due - 2 * window)
    assert early.outcome == "follow-up:noted" and on_time.removed_at is None
    engine.receive(slow, on_time.url, tags=("orbweaver:round-3",), when=due - window / 2)
    assert on_time.removed_at == due and on_time.due_at is None
    assert late.due_at is not None
    reminder = late.due_at + timedelta(days=3)
    outcome = engine.receive(slow, late.url, tags=("orbweaver:round-2",), when=reminder).outcome
    assert outcome == "follow-up:acted-on-late-reminder" and late.removed_at == reminder
    assert never.removed_at is None and never.online(t0 + timedelta(days=3650))


def test_escalation_brings_removal_forward_only_with_its_effect() -> None:
    """An escalation to the site's registrar removes within the escalation delay with the
    controller's escalation_effect (1: always, 0: never), also for a never-remover."""
    for effect, expect in ((1.0, "escalation:removal-scheduled"), (0.0, "escalation:no-change")):
        engine = table_world(per_provider=20, seed=2, never_remove=0.99, escalation_effect=effect)
        slow = engine.cat.party("ColoCrossing")
        item = _first_item(slow)
        t0 = item.uploaded_at + DETECT
        assert engine.receive(slow, item.url, when=t0).outcome == "host:will-not-act"
        registrar = item.site.registrar
        assert registrar is not None
        later = t0 + timedelta(days=3)
        notice = engine.receive(registrar, item.url, tags=("orbweaver:escalation",), when=later)
        assert notice.outcome == expect
        if effect:
            assert item.removed_at is not None
            delay = (item.removed_at - later).total_seconds() / 86400
            assert 0 < delay <= lognormal_days(2.0, 6.0, 0.999999)
        else:
            assert item.removed_at is None


def test_first_notices_alone_leave_reminder_dependent_removals_online() -> None:
    """The departure the table cannot show: without reminders, the providers whose slow
    removals wait for one keep a share online that daily reminders would have removed."""
    horizon_days = 365 * 40
    got = {}
    for how in ("once", "daily"):
        engine = table_world(per_provider=100, seed=5, reminder_dependence=1.0)
        horizon = engine.cat.scenario.world.start + timedelta(days=horizon_days)
        if how == "once":
            first_notices_only(engine, horizon)
        else:
            practice.run(engine, practice.ARACHNID, horizon)
        rows = export(engine, now=horizon, images=False)["providers"]
        got[how] = {r["name"]: r for r in rows}
    for name in ("ColoCrossing", "Serverel", "FranTech Solutions"):
        once, daily = got["once"][name], got["daily"][name]
        assert daily["censored"] == 0
        assert once["censored"] > once["targeted"] // 3, once
        assert daily["removal_median_days"] == pytest.approx(
            daily["scenario"]["removal_median_days"], rel=0.10
        )
    quick = got["once"]["ImageBam"]  # median = p90 = 1 day: inside the window, no reminder needed
    assert quick["censored"] == 0 and quick["removal_p90_days"] == pytest.approx(1.0, rel=0.05)


def test_notice_for_content_elsewhere_is_logged_and_ignored() -> None:
    engine = table_world(per_provider=5, seed=3)
    a, b = engine.cat.providers[0], engine.cat.providers[1]
    item = a.sites[0].items[0]
    notice = engine.receive(b, item.url, when=item.uploaded_at + DETECT)
    assert notice.outcome == "ignored:not-hosted-here"
    assert item.removed_at is None
