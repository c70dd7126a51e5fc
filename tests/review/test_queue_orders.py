"""Queue orders (`review_queue_order`) and the classifier plug-in point (issue 18, the backlog)."""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime, timedelta

import pytest
import review_world
import sqlalchemy as sa
from pydantic import ValidationError
from review_world import World, synthetic_png

from orbweaver.review import (
    ClassifierInput,
    PriorityInputs,
    ReviewQueue,
    ReviewSettings,
    load_classifier,
    order_key,
)
from orbweaver.review.classifier import ClassifierError, safe_score
from orbweaver.review.priority import actionable_prior, explain
from orbweaver.review.queue import next_item_query
from orbweaver.store.models import ReviewItem, Sighting


def _served(world: World, svc: object, who: object) -> list[int]:
    """Media ids in the order `next` serves them to one analyst (each assessed in turn)."""
    out: list[int] = []
    while (item_id := svc.next_item(who)) is not None:  # type: ignore[attr-defined]
        with world.store.session() as s:
            out.append(s.get_one(ReviewItem, item_id).media_id)
        svc.assess(who, item_id, "not_actionable", None)  # type: ignore[attr-defined]
    return out


def test_fifo_serves_the_older_item_first_and_priority_does_not(world: World) -> None:
    world.detections_on("busy.example.test", 20)
    old = world.suspect(1, "quiet.example.test", ago=timedelta(days=10))
    new = world.suspect(2, "busy.example.test")
    fifo = world.service(review_queue_order="fifo", review_consensus=1)
    fifo.sync()
    assert _served(world, fifo, world.user("ana")) == [old, new]

    old = world.suspect(3, "quiet.example.test", ago=timedelta(days=10))
    new = world.suspect(4, "busy.example.test")
    priority = world.service(review_queue_order="priority", review_consensus=1)
    priority.sync()
    assert _served(world, priority, world.user("bob")) == [new, old]


def test_changing_the_order_reranks_the_open_items(world: World) -> None:
    world.detections_on("busy.example.test", 20)
    old = world.suspect(1, "quiet.example.test", ago=timedelta(days=10))
    new = world.suspect(2, "busy.example.test")
    world.service(review_queue_order="priority").sync()
    svc = world.service(review_queue_order="fifo")
    assert [i.media_id for i in svc.top()] == [new, old]
    svc.queue.refresh_priorities()
    assert [i.media_id for i in svc.top()] == [old, new]
    assert {i.priority for i in svc.top()} == {0}


def test_the_next_item_query_is_index_backed_under_every_order(world: World) -> None:
    """All orders sort on the one stored column, so the query's ORDER BY never changes."""
    sql = str(next_item_query(1, world.clock.now()).compile())
    assert "ORDER BY review_item.priority DESC, review_item.first_seen_at, review_item.id" in sql


def test_the_default_order_is_expected_the_one_measured_best() -> None:
    """Issue 18's decision: `priority` noticed 0.24x `fifo`'s actionable suspects while still
    online, `expected` 2.5x (BENCHMARKS.md); a deployment that sets nothing gets `expected`."""
    assert ReviewSettings().review_queue_order == "expected"


def test_an_unknown_order_is_refused() -> None:
    with pytest.raises(ValidationError):
        ReviewSettings(review_queue_order="random")  # type: ignore[arg-type]
    p = _inputs()
    with pytest.raises(ValueError, match="unknown queue order"):
        order_key("random", p, NOW, near=90)


NOW = datetime(2021, 3, 1, 12, tzinfo=UTC)


def _inputs(**changes: object) -> PriorityInputs:
    base: dict[str, object] = {
        "online": True,
        "last_seen_at": NOW,
        "first_seen_at": NOW - timedelta(days=1),
        "sightings": 1,
        "hosts": 1,
        "top_host": "h.test",
        "host_detections": 3,
        "pdq_distance": None,
        "pdq_threshold": None,
    }
    base.update(changes)
    return PriorityInputs(**base)  # type: ignore[arg-type]


def test_expected_serves_what_will_still_be_online_at_the_verdict() -> None:
    def key(p: PriorityInputs) -> int:
        return order_key("expected", p, NOW, near=90, verdict_hours=24.0)

    # same age, both seen today: the host that removes within hours will not wait for a verdict
    fast = _inputs(removal_days=(0.1, 1.0))
    slow = _inputs(removal_days=(30.0, 120.0))
    assert key(slow) > key(fast)
    # a sighting today on a slow host beats one a week ago (the crawl has not seen it since)
    stale = _inputs(
        removal_days=(30.0, 120.0),
        first_seen_at=NOW - timedelta(days=8),
        last_seen_at=NOW - timedelta(days=7),
        online=False,
    )
    assert key(slow) > key(stale)
    # no measured removal times: the settings' defaults stand in
    assert key(_inputs()) == order_key(
        "expected", _inputs(removal_days=(7.0, 60.0)), NOW, near=90, verdict_hours=24.0
    )
    # the classifier's score scales it
    likely = _inputs(removal_days=(30.0, 120.0), classifier_score=0.9)
    unlikely = _inputs(removal_days=(30.0, 120.0), classifier_score=0.1)
    assert key(likely) > key(slow) > key(unlikely)


def test_without_a_classifier_a_host_s_record_of_verdicts_is_the_chance_of_actionable() -> None:
    """The Beta-shrunk share (`actionable_prior`): pinned, so a change of the rule shows."""
    assert actionable_prior((0, 0), (0, 0)) == 0.5  # nothing decided yet anywhere
    # over all hosts 3 of 10 actionable: base (3 + 1) / (10 + 2) = 1/3, weighing 4 verdicts
    assert actionable_prior((0, 0), (3, 10)) == pytest.approx(1 / 3)  # a new host: base rate
    assert actionable_prior((3, 3), (3, 10)) == pytest.approx((3 + 4 / 3) / 7)
    assert actionable_prior((0, 3), (3, 10)) == pytest.approx((4 / 3) / 7)

    def key(**changes: object) -> int:
        p = _inputs(removal_days=(30.0, 120.0), all_verdicts=(3, 10), **changes)
        return order_key("expected", p, NOW, near=90, verdict_hours=24.0)

    # equal chances of still being online: 3 actionable of 3 > a fresh host > 0 of 3
    assert key(host_verdicts=(3, 3)) > key() > key(host_verdicts=(0, 3))
    # a classifier's score stands on its own: the host's record does not move it
    assert key(host_verdicts=(3, 3), classifier_score=0.4) == key(classifier_score=0.4)
    lines = explain(_inputs(host_verdicts=(3, 4)), NOW, near=90)
    assert "host's earlier verdicts: 3 of 4 actionable" in lines


def test_the_queue_counts_each_host_s_earlier_verdicts(world: World) -> None:
    svc = world.service(review_queue_order="expected", review_consensus=1)
    ana = world.user("ana")
    for seed in (1, 2, 3):
        world.suspect(seed, "good.example.test")
    world.suspect(4, "other.example.test")
    svc.sync()
    for item in svc.top():
        with world.store.session() as s:
            host = s.scalar(sa.select(Sighting.host).where(Sighting.media_id == item.media_id))
        category = "csam_prepubescent" if host == "good.example.test" else "not_actionable"
        svc.assess(ana, item.id, category, "sex_act" if host == "good.example.test" else None)
    fresh = world.suspect(5, "fresh.example.test")  # created first: ties would serve it first
    good = world.suspect(6, "good.example.test")
    svc.sync()
    svc.queue.refresh_priorities()
    with world.store.session() as s:
        assert svc.queue.host_verdicts(s) == (
            {"good.example.test": (3, 3), "other.example.test": (0, 1)},
            (3, 4),
        )
    assert [i.media_id for i in svc.top()] == [good, fresh]


def test_an_item_awaiting_its_consensus_comes_before_any_fresh_one(world: World) -> None:
    world.detections_on("busy.example.test", 20)
    old = world.suspect(1, "quiet.example.test", ago=timedelta(days=10))
    new = world.suspect(2, "busy.example.test")
    svc = world.service()
    svc.sync()
    ana, bob = world.user("ana"), world.user("bob")
    first = svc.next_item(ana)
    assert first is not None
    with world.store.session() as s:
        assert s.get_one(ReviewItem, first).media_id == new
    # ana's assessment of `new` would leave it below a fresher, higher item without the band
    item_old = next(i.id for i in svc.top() if i.media_id == old)
    svc.assess(ana, item_old, "not_actionable", None)
    assert svc.next_item(bob) == item_old
    svc.queue.refresh_priorities()  # the band survives a re-rank
    assert svc.next_item(bob) == item_old


def test_priority_puts_the_classifier_score_after_online_and_before_the_site() -> None:
    busy = _inputs(host_detections=1000, classifier_score=0.2)
    likely = _inputs(host_detections=1, classifier_score=0.8)
    offline = _inputs(online=False, classifier_score=1.0, host_detections=1000)
    assert order_key("priority", likely, NOW, near=90) > order_key("priority", busy, NOW, near=90)
    assert order_key("priority", busy, NOW, near=90) > order_key("priority", offline, NOW, near=90)
    assert order_key("fifo", likely, NOW, near=90) == 0


@pytest.fixture
def scores() -> dict[str, float]:
    review_world.SCORES.clear()
    review_world.CALLS.clear()
    return review_world.SCORES


def _sha(seed: int) -> str:
    return hashlib.sha256(synthetic_png(seed)).hexdigest()


def test_a_classifier_named_in_settings_orders_the_queue(
    world: World, scores: dict[str, float]
) -> None:
    a = world.suspect(1)
    b = world.suspect(2)
    c = world.suspect(3)
    scores.update({_sha(1): 0.1, _sha(2): 0.95, _sha(3): 0.5})
    svc = world.service(review_classifier="review_world:scored_classifier")
    svc.sync()
    top = svc.top()
    assert [i.media_id for i in top] == [b, c, a]
    assert "classifier score 0.95" in top[0].reasons
    # asked once per media, however often the item is re-ranked
    svc.queue.refresh_priorities()
    assert sorted(review_world.CALLS) == sorted([_sha(1), _sha(2), _sha(3)])


def test_the_classifier_may_read_the_bytes_and_a_failing_one_abstains(world: World) -> None:
    seen: list[bytes | None] = []

    def classify(item: ClassifierInput) -> float:
        seen.append(item.load_bytes())
        return 0.7

    world.suspect(1)
    svc = world.service()
    svc.queue.classifier = classify
    svc.sync()
    assert seen == [synthetic_png(1)]

    second = world.suspect(2)
    broken = world.service(review_classifier="review_world:broken_classifier")
    report = broken.sync()
    assert report.new_items == 1  # the sync went on
    (item,) = [i for i in broken.top() if i.media_id == second]
    assert not any("classifier score" in r for r in item.reasons)


def test_classifier_names_that_do_not_load_are_clear_errors(world: World) -> None:
    assert load_classifier(ReviewSettings()) is None
    for name in ("no_such_module_xyz:factory", "review_world:missing", "no-such-entry-point"):
        with pytest.raises(ClassifierError, match="review_classifier"):
            ReviewQueue(world.store, world.clock, ReviewSettings(review_classifier=name))


def test_scores_are_clipped_and_nonsense_abstains() -> None:
    item = ClassifierInput(1, "ab", None)
    assert safe_score(lambda _: 1.7, item) == 1.0
    assert safe_score(lambda _: -2, item) == 0.0
    assert safe_score(lambda _: math.nan, item) is None
    assert safe_score(lambda _: "high", item) is None  # type: ignore[arg-type,return-value]
    assert safe_score(lambda _: True, item) is None


def test_one_verdict_settles_the_group_unless_the_analyst_splits_a_member_out(
    world: World,
) -> None:
    from review_world import pdq_hex

    from orbweaver.review.errors import ReviewError

    svc = world.service()
    world.suspect(1, pdq=pdq_hex(5))
    svc.sync()
    world.suspect(2, pdq=pdq_hex(5, flips=8))  # the same picture, re-encoded
    world.suspect(3, pdq=pdq_hex(5, flips=12))  # grouped too, but the analyst says it differs
    svc.sync()
    with world.store.session() as s:
        lead, same, other = s.scalars(sa.select(ReviewItem).order_by(ReviewItem.id)).all()
        assert same.group_id == lead.id and other.group_id == lead.id
    ana, bob = world.user("ana"), world.user("bob")
    assert svc.split(ana, other.id) == lead.id
    with pytest.raises(ReviewError, match="not a grouped near-duplicate"):
        svc.split(ana, other.id)
    for who in (ana, bob):
        svc.assess(who, lead.id, "not_actionable", None)
    with world.store.session() as s:
        status = dict(s.execute(sa.select(ReviewItem.id, ReviewItem.status)).all())
    assert status == {lead.id: "decided", same.id: "decided", other.id: "open"}
    # one image shown per assessment: the settled member never reached an analyst, the split
    # one does, and to each analyst once
    assert svc.next_item(ana) == other.id and svc.next_item(bob) == other.id
    svc.assess(ana, other.id, "not_actionable", None)
    assert svc.next_item(ana) is None
