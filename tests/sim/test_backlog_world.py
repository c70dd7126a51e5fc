"""The world's side of the backlog experiment (issue 18): content going offline on its own, and
an oracle classifier of chosen quality."""

from __future__ import annotations

import dataclasses
import hashlib
import statistics
from datetime import timedelta

import httpx

from orbweaver.sim import World, practice
from orbweaver.sim import scenario as scenario_mod
from orbweaver.sim.behaviour import Engine
from orbweaver.sim.oracle import auc_of, oracle_score

TABLE = "scenarios/table-1.0.toml"  # found as package data from any folder


def _engine(factor: float) -> Engine:
    sc = scenario_mod.load(TABLE)
    sc = dataclasses.replace(sc, world=dataclasses.replace(sc.world, own_removal_factor=factor))
    return practice.new_engine(sc, 0.002, 1)


def test_by_default_nothing_goes_offline_on_its_own() -> None:
    engine = _engine(0.0)
    assert all(item.gone_at is None for item in engine.cat.items)


def test_placements_go_offline_after_their_providers_removal_delay() -> None:
    engine = _engine(1.0)
    by_provider: dict[str, list[float]] = {}
    for item in engine.cat.items:
        party = item.site.frontline
        if party is None:
            assert item.gone_at is None
            continue
        assert item.gone_at is not None and item.gone_at >= item.uploaded_at
        assert not item.online(item.gone_at) and item.online(item.uploaded_at)
        days = (item.gone_at - item.uploaded_at) / timedelta(days=1)
        by_provider.setdefault(party.name, []).append(days)
    slow = engine.cat.party("ColoCrossing").behaviour.removal_median_days
    fast = engine.cat.party("ImageVenue").behaviour.removal_median_days
    assert statistics.median(by_provider["ColoCrossing"]) > 10 * max(fast, 1 / 24)
    assert abs(statistics.median(by_provider["ColoCrossing"]) - slow) < 0.25 * slow


def test_a_later_notice_does_not_bring_back_what_went_on_its_own() -> None:
    engine = _engine(1.0)
    item = next(i for i in engine.cat.items if i.site.frontline is not None)
    assert item.gone_at is not None
    party = item.site.frontline
    assert party is not None
    engine.receive(party, item.url, when=item.gone_at + timedelta(days=1))
    assert not item.online(item.gone_at + timedelta(days=2))


def test_the_oracle_has_the_asked_auc_and_is_fixed_per_picture() -> None:
    pairs = [(i % 3 == 0) for i in range(6000)]
    for auc in (0.7, 0.9):
        scores = [(oracle_score(5, i, a, auc), a) for i, a in enumerate(pairs)]
        assert abs(auc_of(scores) - auc) < 0.02
    assert oracle_score(5, 17, True, 0.9) == oracle_score(5, 17, True, 0.9)
    assert abs(auc_of([(oracle_score(5, i, a, 0.5), a) for i, a in enumerate(pairs)]) - 0.5) < 0.03


def test_the_control_api_serves_the_oracle_for_bytes_it_served() -> None:
    with World.start("scenarios/small.toml", scale=1.0, seed=3) as world:
        info = world.info
        item = next(i for i in world.catalogue.items if i.kind == "image")
        data = world.media.item_bytes(item)  # what the world serves at the item's URL
        sha = hashlib.sha256(data).hexdigest()
        control = info["control"].rstrip("/")
        assert httpx.get(f"{control}/classifier/{'0' * 64}").status_code == 404
        assert httpx.get(f"{control}/classifier/{sha}?auc=2").status_code == 400
        got = httpx.get(f"{control}/classifier/{sha}?auc=0.9").json()
        image = world.catalogue.images[item.image_ids[0]]
        expected = oracle_score(3, image.id, image.label != "benign", 0.9)
        assert got["score"] == expected


def test_a_provider_may_host_its_own_share_of_benign_images() -> None:
    """`ProviderSpec.benign_per_actionable` (the backlog's `--benign-spread`); None: the world's."""

    def benign_on(sc: scenario_mod.Scenario, name: str) -> int:
        cat = practice.new_engine(sc, 0.01, 1).cat
        return sum(
            cat.images[i].label == "benign"
            for item in cat.items
            if item.site.frontline is not None and item.site.frontline.name == name
            for i in item.image_ids
        )

    sc = scenario_mod.load(TABLE)
    assert sc.provider("ColoCrossing").benign_per_actionable is None
    flat = benign_on(sc, "ColoCrossing")
    more = dataclasses.replace(sc.provider("ColoCrossing"), benign_per_actionable=3.0)
    providers = tuple(more if p.name == "ColoCrossing" else p for p in sc.providers)
    assert benign_on(dataclasses.replace(sc, providers=providers), "ColoCrossing") > 2 * flat > 0
