"""Statistical fidelity: a perfect notifier drives the behaviour engine directly (no network)."""

from __future__ import annotations

import dataclasses
import heapq
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from orbweaver.sim import catalogue, scenario
from orbweaver.sim.behaviour import Engine, lognormal_days
from orbweaver.sim.clock import WorldClock
from orbweaver.sim.scenario import SiteSpec
from orbweaver.sim.truth import export, km_quantile

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
DETECT = timedelta(days=1)


def drive(engine: Engine, horizon: datetime) -> None:
    """Notice every actionable placement one day after it appears, re-uploads included."""
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


def table_world(per_provider: int, seed: int) -> Engine:
    sc = scenario.load(SCENARIOS / "table-1.0.csv")
    providers = tuple(
        dataclasses.replace(
            p,
            targeted=per_provider,
            sites=(SiteSpec("image_host", 2),),
            behaviour=dataclasses.replace(p.behaviour, reupload_delay_days=5.0),
        )
        for p in sc.providers
    )
    world = dataclasses.replace(
        sc.world, initial_share=1.0, benign_per_actionable=0.0, registrars=1
    )
    sc = dataclasses.replace(sc, world=world, providers=providers)
    cat, builder = catalogue.build(sc, scale=1.0, seed=seed)
    return Engine(cat, builder, WorldClock(world.start), seed)


@pytest.mark.slow
def test_every_provider_matches_its_table_row_within_ten_percent() -> None:
    engine = table_world(per_provider=400, seed=11)
    horizon = engine.cat.scenario.world.start + timedelta(days=365 * 40)
    drive(engine, horizon)
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


def test_follow_up_and_escalation_bring_removal_forward() -> None:
    engine = table_world(per_provider=20, seed=2)
    cat = engine.cat
    slow = cat.party("ColoCrossing")
    item = next(i for s in slow.sites for i in s.items)
    t0 = item.uploaded_at + DETECT
    engine.receive(slow, item.url, when=t0)
    first = item.removed_at
    assert first is not None
    for rnd in range(2, 12):
        engine.receive(
            slow, item.url, tags=(f"orbweaver:round:{rnd}",), when=t0 + timedelta(hours=rnd)
        )
    assert item.removed_at is not None and item.removed_at <= first
    registrar = item.site.registrar
    assert registrar is not None
    other = next(i for s in slow.sites for i in s.items if i is not item)
    engine.receive(
        registrar, other.url, tags=("orbweaver:escalation",), when=other.uploaded_at + DETECT
    )
    assert engine.ledger.notices[-1].outcome.startswith("escalation:")


def test_notice_for_content_elsewhere_is_logged_and_ignored() -> None:
    engine = table_world(per_provider=5, seed=3)
    a, b = engine.cat.providers[0], engine.cat.providers[1]
    item = a.sites[0].items[0]
    notice = engine.receive(b, item.url, when=item.uploaded_at + DETECT)
    assert notice.outcome == "ignored:not-hosted-here"
    assert item.removed_at is None
