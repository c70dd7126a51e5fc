"""The campaign's verdict itself: each kind of loss it is meant to catch makes it fail."""

from __future__ import annotations

import dataclasses
from collections import Counter

from faults.campaign import PRECISION_DAYS, RunResult, compare


def result(**changes: object) -> RunResult:
    row = {
        "name": "PixVenue",
        "service_type": "content_administrator",
        "targeted": 2,
        "removal_median_days": 1.0,
        "removal_p90_days": 2.0,
        "recidivism_rate": 0.0,
        "censored": 0,
    }
    base = RunResult(
        sightings={"http://a.test/1.jpg", "http://a.test/2.jpg"},
        noticed={"http://a.test/1.jpg", "http://a.test/2.jpg"},
        failed_notices=0,
        failed_outbox=0,
        received=Counter({("r1", 1, False): 1, ("r2", 1, False): 1}),
        in_doubt=0,
        table={"PixVenue": row},
        placements={"http://a.test/1.jpg", "http://a.test/2.jpg", "http://a.test/3.jpg"},
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_the_same_outcome_passes() -> None:
    assert compare(result(), result()).ok


def test_a_lost_sighting_fails_unless_the_other_world_never_placed_it() -> None:
    lost = compare(result(), result(sightings={"http://a.test/1.jpg"}))
    assert not lost.ok and lost.lost_sightings == ["http://a.test/2.jpg"]
    elsewhere = result(sightings={"http://a.test/1.jpg"}, placements={"http://a.test/1.jpg"})
    assert compare(result(), dataclasses.replace(elsewhere, noticed={"http://a.test/1.jpg"})).ok


def test_a_lost_or_failed_notice_fails() -> None:
    assert compare(result(), result(noticed={"http://a.test/1.jpg"})).lost_notices
    assert not compare(result(), result(failed_outbox=1)).ok
    assert not compare(result(), result(failed_notices=1)).ok


def test_duplicates_pass_only_when_in_doubt_and_never_three_times() -> None:
    twice = Counter({("r1", 1, False): 2, ("r2", 1, False): 1})
    assert not compare(result(), result(received=twice)).ok
    assert compare(result(), result(received=twice, in_doubt=1)).ok
    thrice = Counter({("r1", 1, False): 3})
    assert not compare(result(), result(received=thrice, in_doubt=2)).ok


def test_table_1_0_within_the_recheck_precision() -> None:
    def with_median(days: float | None) -> RunResult:
        row = {**result().table["PixVenue"], "removal_median_days": days}
        return result(table={"PixVenue": row})

    assert compare(result(), with_median(1.0 + PRECISION_DAYS)).ok
    assert not compare(result(), with_median(1.0 + PRECISION_DAYS + 0.1)).ok
    assert not compare(result(), with_median(None)).ok
    assert not compare(result(), result(table={})).ok
