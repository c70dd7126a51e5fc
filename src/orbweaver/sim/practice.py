"""Notice practices run against the world alone: who is told what, and when, with no crawl.

A practice notices every actionable placement a day after it appears (content online before the
world starts: a day after the start), then reminds the party noticed first every `followup_hours`
while the content stays online, and optionally escalates upstream. It drives the behaviour engine
directly, so three simulated years of a scale-0.01 world take seconds.

`arachnid` is the reference practice, the one that produced the scenario's figures (Table 1.0):
a first notice, then one every 24 hours until the content is gone, no escalation. The world is
calibrated so that this practice reproduces its scenario (tests/sim/test_calibration.py).
`escalate` is orbweaver's default notice settings: the same reminders, and after 3 unanswered
notices one escalation to the next party up the chain (the site's registrar, which is all the
product's attribution finds above a host or a CDN), sent in place of that day's reminder.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from orbweaver.sim import catalogue, truth
from orbweaver.sim import scenario as scenario_mod
from orbweaver.sim.behaviour import Engine
from orbweaver.sim.catalogue import Item
from orbweaver.sim.clock import WorldClock, iso

ESCALATION_TAGS = ("orbweaver:escalation", "orbweaver:escalation-1")


@dataclass(frozen=True)
class Practice:
    """When notices go out. `escalate_after_rounds` 0: never escalate."""

    name: str
    description: str
    followup_hours: float = 24.0
    escalate_after_rounds: int = 0
    detect_delay_days: float = 1.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "followup_hours": self.followup_hours,
            "escalate_after_rounds": self.escalate_after_rounds,
        }


ARACHNID = Practice(
    "arachnid",
    "a first notice, then one every 24 h until the content is gone, no escalation "
    "(Project Arachnid's practice, which produced Table 1.0)",
)
ESCALATE = Practice(
    "escalate",
    "a first notice, then one every 24 h until the content is gone; after 3 unanswered notices "
    "one escalation to the site's registrar in place of that day's reminder "
    "(orbweaver's default notice settings)",
    escalate_after_rounds=3,
)
PRACTICES = {p.name: p for p in (ARACHNID, ESCALATE)}


def practice(name: str, escalate_after_rounds: int | None = None) -> Practice:
    """A named practice, optionally with another escalation round (0 turns escalation off)."""
    try:
        base = PRACTICES[name]
    except KeyError:
        raise ValueError(f"unknown practice {name!r}: one of {sorted(PRACTICES)}") from None
    if escalate_after_rounds is None or escalate_after_rounds == base.escalate_after_rounds:
        return base
    return replace(
        base,
        escalate_after_rounds=escalate_after_rounds,
        description=f"{base.description}; escalation after {escalate_after_rounds} notices",
    )


@dataclass
class PracticeStats:
    notices: int = 0
    escalations: int = 0


def _actionable(engine: Engine, item: Item) -> bool:
    images = engine.cat.images
    return item.site.frontline is not None and any(
        images[i].label != "benign" for i in item.image_ids
    )


def run(engine: Engine, how: Practice, until: datetime) -> PracticeStats:
    """Send the practice's notices to the engine up to `until` (re-uploads are found as they
    appear). Events: (when, order, item id, next round, escalated already)."""
    cat = engine.cat
    start = cat.scenario.world.start
    detect = timedelta(days=how.detect_delay_days)
    every = timedelta(hours=how.followup_hours)
    order = itertools.count()
    heap: list[tuple[datetime, int, int, int, bool]] = []
    stats = PracticeStats()

    def find(first: int) -> None:
        for item in cat.items[first:]:
            if _actionable(engine, item):
                when = max(item.uploaded_at, start) + detect
                heapq.heappush(heap, (when, next(order), item.id, 1, False))

    find(0)
    while heap:
        when, _, item_id, rnd, escalated = heapq.heappop(heap)
        if when > until:
            break
        item = cat.items[item_id]
        if not item.online(when):  # a re-check saw it gone: the practice stops
            continue
        before = len(cat.items)
        registrar = item.site.registrar
        n = how.escalate_after_rounds
        if n > 0 and not escalated and rnd > n and registrar is not None:
            engine.receive(registrar, item.url, tags=ESCALATION_TAGS, when=when)
            stats.escalations += 1
            heapq.heappush(heap, (when + every, next(order), item_id, rnd, True))
        else:
            frontline = item.site.frontline
            assert frontline is not None
            tags = (f"orbweaver:round-{rnd}",) if rnd > 1 else ()
            engine.receive(frontline, item.url, tags=tags, when=when)
            stats.notices += 1
            heapq.heappush(heap, (when + every, next(order), item_id, rnd + 1, escalated))
        if len(cat.items) > before:
            find(before)
    return stats


def new_engine(scenario: scenario_mod.Scenario | str | Path, scale: float, seed: int) -> Engine:
    """A world without servers: its catalogue and behaviour engine only."""
    sc = scenario if isinstance(scenario, scenario_mod.Scenario) else scenario_mod.load(scenario)
    cat, builder = catalogue.build(sc, scale, seed)
    return Engine(cat, builder, WorldClock(sc.world.start), seed)


def calibrate(
    scenario: scenario_mod.Scenario | str | Path,
    scale: float = 0.01,
    days: float = 1095.0,
    seed: int = 1,
    how: Practice = ARACHNID,
) -> dict[str, Any]:
    """Run the practice for `days` on a fresh world and return its ground truth per provider,
    beside the scenario's own figures."""
    engine = new_engine(scenario, scale, seed)
    until = engine.cat.scenario.world.start + timedelta(days=days)
    stats = run(engine, how, until)
    rows = truth.export(engine, now=until, images=False)["providers"]
    keys = ("removal_median_days", "removal_p90_days", "recidivism_rate")
    return {
        "scenario": engine.cat.scenario.world.name,
        "scale": scale,
        "seed": seed,
        "days": days,
        "until": iso(until),
        "practice": how.as_dict(),
        "notices": stats.notices,
        "escalations": stats.escalations,
        "providers": [
            {
                "name": row["name"],
                "service_type": row["service_type"],
                "targeted": row["targeted"],
                **{k: row[k] for k in keys},
                "censored": row["censored"],
                "scenario": {k: row["scenario"][k] for k in keys},
            }
            for row in rows
            if row["service_type"] != "registrar"
        ],
    }
