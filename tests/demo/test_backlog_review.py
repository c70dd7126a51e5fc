"""The demo's backlog (issue 18): report.json's "review" figures from a small store and the
world's truth, the flags' settings, analysts with a capacity, the oracle plugged in."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from orbweaver.clock import SettableClock
from orbweaver.demo.analysts import CappedReview
from orbweaver.demo.backlog import REVIEW_KEYS, Placement, Truth, backlog_series, review_figures
from orbweaver.demo.oracle import oracle_url, world_oracle
from orbweaver.demo.run import DemoOptions, review_settings, world_scenario
from orbweaver.review import ClassifierInput, ReviewService, add_user, principal_of
from orbweaver.store import Store
from orbweaver.store.models import Media, ReviewItem, Sighting, Suspect

T0 = datetime(2021, 3, 1, tzinfo=UTC)


def _suspect(store: Store, clock: SettableClock, n: int) -> str:
    data = f"picture {n}".encode()
    sha = hashlib.sha256(data).hexdigest()
    now = clock.now().replace(tzinfo=None)
    with store.session() as s:
        media = Media(
            sha256=sha,
            sha1=hashlib.sha1(data).hexdigest(),
            md5=hashlib.md5(data).hexdigest(),
            size_bytes=len(data),
            mime_type="image/png",
            first_seen_at=now,
        )
        s.add(media)
        s.flush()
        sighting = Sighting(
            media_id=media.id,
            url=f"http://img.example.test/{n}.png",
            host="img.example.test",
            network="clear",
            reached_from_tor=False,
            seen_at=now,
        )
        s.add(sighting)
        s.flush()
        s.add(Suspect(sighting_id=sighting.id, media_id=media.id, status="pending", created_at=now))
    return sha


def test_review_figures_join_the_store_with_the_worlds_truth(sqlite_store: Store) -> None:
    clock = SettableClock(T0)
    shas = {name: _suspect(sqlite_store, clock, n) for n, name in enumerate("ABCDE")}
    svc = ReviewService(sqlite_store, clock)
    svc.sync()
    with sqlite_store.session() as s:
        ana = principal_of(add_user(s, clock, "ana", "analyst", "quartz-lantern-1907"))
        bob = principal_of(add_user(s, clock, "bob", "analyst", "marble-harbour-2214"))
    clock.set(T0 + timedelta(hours=10))
    verdicts = {"A": "csam_prepubescent", "B": "csam_prepubescent", "C": "not_actionable"}
    with sqlite_store.session() as s:
        ids = dict(s.execute(sa.select(Media.sha256, ReviewItem.id).join(ReviewItem.media)).all())
    for name, category in verdicts.items():
        for who in (ana, bob):
            svc.assess(who, ids[shas[name]], category, None)
    end = T0 + timedelta(days=5)
    truth = {
        1: Truth(True, (Placement(T0 - timedelta(days=1), None),)),  # A: online throughout
        2: Truth(True, (Placement(T0 - timedelta(days=1), T0 + timedelta(hours=1)),)),  # B
        3: Truth(False, (Placement(T0, None),)),  # C: benign
        4: Truth(True, (Placement(T0, T0 + timedelta(days=2)),)),  # D: never reviewed, gone
        5: Truth(True, (Placement(T0, None),)),  # E: never reviewed, still online
    }
    picture = {sha: n + 1 for n, sha in enumerate(shas[x] for x in "ABCDE")}
    got = review_figures(sqlite_store, picture.get, truth, end)
    assert set(REVIEW_KEYS) <= set(got)
    assert got["suspects"] == 5
    assert got["assessed"] == 3 and got["actionable"] == 2
    assert got["noticed_while_online"] == 1  # A; B was gone an hour in
    assert got["removed_before_review"] == 2  # B (gone before its verdict) and D
    assert got["median_hours_suspect_to_notice"] == 10.0
    assert got["images_shown_per_actionable_verdict"] == 3.0  # 6 assessments, 2 actionable
    series = backlog_series(sqlite_store, T0, end)
    assert [r["open"] for r in series] == [2, 2, 2, 2, 2]  # D and E wait; A, B, C decided


class FakeAnalyst:
    def __init__(self, waiting: int) -> None:
        self.waiting = waiting
        self.calls: list[int] = []

    def work(self, limit: int = 10_000) -> int:
        self.calls.append(limit)
        done = min(limit, self.waiting)
        self.waiting -= done
        return done


def test_analysts_with_a_capacity_spend_it_as_the_clock_moves() -> None:
    clock = SettableClock(T0)
    busy, idle = FakeAnalyst(100), FakeAnalyst(0)
    refreshed: list[datetime] = []
    review = CappedReview(
        [busy, idle],  # type: ignore[list-item]
        per_day=4.0,
        clock=clock,
        refresh=lambda: refreshed.append(clock.now()),
    )
    assert review([]) == 0  # the first call starts the count
    clock.set(T0 + timedelta(hours=9))
    assert review([]) == 1  # 1.5 due: one now, half carried
    clock.set(T0 + timedelta(hours=15))
    assert review([]) == 1  # 0.5 + 1.0 -> 1, 0.5 carried
    clock.set(T0 + timedelta(days=3))
    assert review([]) == 10  # 0.5 + 9.5 (the idle one banks no whole assessment)
    assert idle.waiting == 0 and review.budget[1] < 1.0
    assert refreshed == [T0, T0 + timedelta(days=3)]  # once a day at most


def test_the_flags_make_the_review_settings_and_the_world() -> None:
    plain = DemoOptions()
    assert not plain.backlog and plain.own_removal_factor == 0.0
    assert world_scenario(plain) == plain.scenario  # the default demo's world, untouched
    options = DemoOptions(queue="expected", analyst_capacity=6.0, classifier_auc=0.9)
    assert options.backlog and options.own_removal_factor == 1.0
    settings = review_settings(options, "http://127.1.0.1:9/control/")
    assert settings.review_queue_order == "expected"
    assert settings.review_classifier == "orbweaver.demo.oracle:world_oracle"
    assert (
        settings.review_classifier_url == "http://127.1.0.1:9/control/classifier/{sha256}?auc=0.9"
    )
    assert settings.review_verdict_hours == 28.0
    assert world_scenario(options).world.own_removal_factor == 1.0
    assert world_scenario(DemoOptions(own_removal=0.5)).world.own_removal_factor == 0.5


def test_a_bad_queue_order_is_refused_before_the_world_starts(tmp_path: Path) -> None:
    from orbweaver.cli import app

    result = CliRunner().invoke(app, ["demo", "--queue", "random", "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert "fifo, priority, expected" in result.output
    assert not (tmp_path / "report.json").exists()
    result = CliRunner().invoke(app, ["demo", "--classifier-auc", "1.5", "--out", str(tmp_path)])
    assert result.exit_code != 0


def test_the_oracle_plugs_in_through_the_classifier_hook() -> None:
    from orbweaver.sim import World

    with World.start("scenarios/small.toml", scale=1.0, seed=3) as world:
        item = next(i for i in world.catalogue.items if i.kind == "image")
        sha = hashlib.sha256(world.media.item_bytes(item)).hexdigest()
        settings = review_settings(DemoOptions(classifier_auc=0.9), world.info["control"])
        classify = world_oracle(settings)
        score = classify(ClassifierInput(1, sha, None))
        assert score is not None and 0.0 < score < 1.0
        assert classify(ClassifierInput(2, "0" * 64, None)) is None  # bytes it never served
        with pytest.raises(ValueError, match="sha256"):
            world_oracle(settings.model_copy(update={"review_classifier_url": "http://x/"}))
    assert oracle_url("http://h/control", 0.75).endswith("/control/classifier/{sha256}?auc=0.75")
    assert httpx  # the hook's client library
