"""Report engine: censoring-aware removal statistics and the JSON contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from orbweaver.reports.survival import kaplan_meier, naive_stats, removal_stats
from orbweaver.reports.tables import NOTICE_COLUMNS, ReportInputs, build_report, empty_notices


def synthetic_notices(
    rng: np.random.Generator, provider: str, n: int, median: float
) -> pd.DataFrame:
    """Lognormal removal times; a fifth never removed, observed for 30 days then censored."""
    true = rng.lognormal(np.log(median), 1.0, n)
    never = rng.random(n) < 0.2
    followup = 30.0
    removed = (~never) & (true <= followup)
    return pd.DataFrame(
        {
            "provider": provider,
            "service_type": "hosting_provider",
            "sent_at": pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 90, n), "D"),
            "duration_days": np.where(removed, true, followup),
            "removed": removed,
            "recidivist": rng.random(n) < 0.3,
            "category": np.where(rng.random(n) < 0.8, "csam_prepubescent", "csam_postpubescent"),
            "reached_from_tor": rng.random(n) < 0.1,
            "archive": False,
            "members": 1,
            "followups": 2,
            "escalations": 0,
        }
    )


def test_kaplan_meier_matches_the_truth_under_censoring() -> None:
    rng = np.random.default_rng(7)
    true = rng.exponential(5.0, 20_000)  # median 5 ln 2, p90 5 ln 10
    cutoff = 10.0
    removed = true <= cutoff
    observed = np.minimum(true, cutoff)
    stats = removal_stats(observed, removed)
    assert stats.median_days == pytest.approx(5 * np.log(2), rel=0.05)
    assert stats.p90_days is None  # p90 = 11.5 days lies beyond the 10-day follow-up
    assert stats.display("p90") == "> 10.0"
    assert stats.censored == int((~removed).sum())
    lo, hi = stats.median_ci
    assert lo is not None and hi is not None and lo < stats.median_days < hi
    # 20,000 notices pin the median closely: the interval is a few percent wide, not [0, median]
    assert 0.95 * stats.median_days < lo and hi < 1.05 * stats.median_days
    # Dropping what is still online gives a wrong, too-fast answer.
    naive = naive_stats(observed, removed)
    assert naive.median_days is not None and naive.median_days < 0.85 * stats.median_days


def test_percentile_reached_and_empty_group() -> None:
    stats = removal_stats([1, 1, 2, 2, 3, 3, 4, 4, 5, 6], [True] * 10)
    assert (stats.median_days, stats.p90_days) == (3.0, 5.0)
    empty = removal_stats([], [])
    assert empty.n == 0 and empty.display("median") == "-"
    assert (empty.removed, empty.censored_share, empty.max_followup_days) == (0, 0.0, 0.0)


def test_a_negative_duration_counts_as_removed_at_once() -> None:
    """A removal seen before its notice (clock skew between machines) is 0 days, never less."""
    stats = removal_stats([-0.5, 1.0, 2.0], [True, True, True])
    assert stats.median_days == 1.0
    assert removal_stats([-0.5], [True]).median_days == 0.0


def test_censored_share_is_the_share_still_online() -> None:
    stats = removal_stats([1, 2, 3, 4], [True, True, False, False])
    assert (stats.censored, stats.censored_share) == (2, 0.5)


def test_confidence_bounds_where_nothing_is_removed_yet_and_where_everything_is() -> None:
    """Before the first removal the curve is 1 with no spread (the bounds are 1, not the 0/0 of
    the Greenwood formula); once the last one at risk is removed they are 0."""
    curve = kaplan_meier(np.array([1.0, 2.0, 3.0, 4.0]), np.array([False, True, False, True]))
    assert list(curve.survival) == [1.0, pytest.approx(2 / 3), pytest.approx(2 / 3), 0.0]
    assert (curve.lower[0], curve.upper[0]) == (1.0, 1.0)
    assert (curve.lower[-1], curve.upper[-1]) == (0.0, 0.0)
    assert 0.0 < curve.lower[1] < curve.survival[1] < curve.upper[1] < 1.0


def test_report_contract_and_breakdowns() -> None:
    rng = np.random.default_rng(1)
    notices = pd.concat(
        [
            synthetic_notices(rng, "FastHost", 600, 1.0),
            synthetic_notices(rng, "SlowHost", 300, 8.0),
        ],
        ignore_index=True,
    )
    report = build_report(ReportInputs(notices=notices, detected=5000, detected_clear_web=4800))
    contract = report.contract()
    assert set(contract) == {"summary", "providers"}
    assert set(contract["summary"]) == {
        "detected",
        "targeted",
        "removal_median_days",
        "removal_p90_days",
        "recidivism_rate",
        "providers",
        "removed_before_notice",
        "held_notices",
    }
    assert contract["summary"]["targeted"] == 900 and contract["summary"]["providers"] == 2
    first, second = contract["providers"]
    assert set(first) == {
        "name",
        "service_type",
        "targeted",
        "removal_median_days",
        "removal_p90_days",
        "recidivism_rate",
        "censored",
    }
    assert (first["name"], second["name"]) == ("FastHost", "SlowHost")
    assert first["removal_median_days"] < second["removal_median_days"]
    assert second["removal_p90_days"] is None  # a fifth never removes: p90 never reached
    assert first["censored"] == int((~notices[notices.provider == "FastHost"].removed).sum())
    detail = report.detail()
    assert {r["name"] for r in detail["by_category"]} == {"csam_prepubescent", "csam_postpubescent"}
    assert {r["name"] for r in detail["by_network"]} == {"clear web only", "reached from tor"}
    assert [r["name"] for r in detail["by_month"]] == ["2021-01", "2021-02", "2021-03"]
    assert detail["figure_1_0"]["share_hosted_clear_web"] == 0.96


def test_empty_report() -> None:
    report = build_report(ReportInputs(notices=empty_notices()))
    assert report.contract() == {
        "summary": {
            "detected": 0,
            "targeted": 0,
            "removal_median_days": None,
            "removal_p90_days": None,
            "recidivism_rate": None,
            "providers": 0,
            "removed_before_notice": 0,
            "held_notices": 0,
        },
        "providers": [],
    }
    assert list(empty_notices().columns) == list(NOTICE_COLUMNS)


def test_outputs_written(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from orbweaver.reports.render import write_all

    rng = np.random.default_rng(3)
    notices = synthetic_notices(rng, "FastHost", 200, 1.0)
    report = build_report(ReportInputs(notices=notices, detected=1000, detected_clear_web=1000))
    paths = write_all(report, tmp_path)
    assert json.loads(paths["json"].read_text()) == json.loads(json.dumps(report.contract()))
    html = paths["html"].read_text()
    assert "FastHost" in html and "data:image/png;base64," in html and "right-censored" in html
    lines = paths["csv"].read_text().splitlines()
    assert lines[0].startswith("name,service_type,targeted") and lines[1].startswith("FastHost,")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_numpy_kaplan_meier_equals_lifelines(seed: int) -> None:
    from lifelines import KaplanMeierFitter

    from orbweaver.reports.survival import kaplan_meier

    rng = np.random.default_rng(seed)
    n = 500
    durations = np.round(rng.lognormal(0.5, 1.0, n), 1)  # ties on purpose
    events = rng.random(n) < 0.7
    ours = kaplan_meier(durations, events)
    kmf = KaplanMeierFitter().fit(durations, events)
    theirs = kmf.survival_function_.iloc[:, 0]
    bounds = kmf.confidence_interval_
    at = ours.times
    assert set(theirs.index) - {0.0} == set(at) - {0.0}
    assert np.allclose(ours.survival, theirs.loc[at].to_numpy())
    assert np.allclose(ours.lower, bounds.iloc[:, 0].loc[at].to_numpy(), atol=1e-9)
    assert np.allclose(ours.upper, bounds.iloc[:, 1].loc[at].to_numpy(), atol=1e-9)
    stats = removal_stats(durations, events)
    assert stats.median_days == pytest.approx(kmf.median_survival_time_)
