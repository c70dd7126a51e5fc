"""The report a regulator can quote (issue 20): who issued it, when, over which period and at
what scale; a median never outside its own shown interval; small groups marked; shares that
never read 0% for something that happened; a colour-blind-safe palette with small providers
pooled; a glossary."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
from test_reports import synthetic_notices

from orbweaver.reports.render import (
    OKABE_ITO,
    curve_groups,
    curve_styles,
    percent,
    removal_curves_png,
    render_html,
)
from orbweaver.reports.survival import RemovalStats
from orbweaver.reports.tables import ReportInputs, build_report, ci_display


def stats(median: float, low: float | None, high: float | None, removed: int = 5) -> RemovalStats:
    return RemovalStats(
        n=5,
        removed=removed,
        median_days=median,
        p90_days=None,
        median_ci=(low, high),
        max_followup_days=30.0,
    )


def test_the_shown_median_is_inside_its_shown_interval() -> None:
    tight = stats(0.96, 0.96, 0.96)
    assert tight.display("median") == "1.0"
    assert ci_display(tight) == "0.9–1.0"  # was "0.96–0.96" beside "1.0"
    assert ci_display(stats(2.04, 1.51, None)) == "1.5–∞"
    assert ci_display(stats(3.0, 3.0, 3.0, removed=1)) == "too few removals"


def test_shares_at_the_edges() -> None:
    assert percent(0.0) == "0%" and percent(1.0) == "100%"
    assert percent(0.003) == "<1%" and percent(0.998) == ">99%"
    assert percent(0.0004, 1) == "<0.1%" and percent(0.1234, 1) == "12.3%"
    assert percent(None) == "–"


def report_of(sizes: dict[str, int]) -> object:
    rng = np.random.default_rng(5)
    frames = [synthetic_notices(rng, name, n, 3.0) for name, n in sizes.items()]
    notices = pd.concat(frames, ignore_index=True)
    return build_report(ReportInputs(notices=notices, detected=5000, detected_clear_web=4800))


def test_curves_use_okabe_ito_and_pool_small_providers() -> None:
    styles = curve_styles(12)
    assert len(set(styles)) == 12 and {c for c, _ in styles} <= set(OKABE_ITO)
    sizes = {f"Provider {i}": 60 - 4 * i for i in range(12)}
    report = report_of(sizes)
    shown, pooled = curve_groups(report, 8)  # type: ignore[arg-type]
    assert [r.name for r in shown] == [f"Provider {i}" for i in range(8)]
    assert len(pooled) == 4
    assert removal_curves_png(report)[:4] == b"\x89PNG"  # type: ignore[arg-type]


def test_the_html_says_who_when_which_period_and_explains_its_terms() -> None:
    report = report_of({"Big Host": 80, "Tiny Host": 4})
    html = render_html(
        report,  # type: ignore[arg-type]
        organisation="Example Hotline",
        generated_at=datetime(2021, 4, 2, 9, 30, tzinfo=UTC),
    )
    assert "Issued by <b>Example Hotline</b>, generated 2021-04-02 09:30 UTC" in html
    assert "first notices sent 2021-01-0" in html and " to 2021-03-" in html
    assert "Scale: 84 notices to 2 providers, for 5,000 verified images detected" in html
    assert "<td>Tiny Host †</td>" in html and "<td>Big Host</td>" in html
    assert "hosting provider" in html and ">hosting_provider<" not in html
    for term in ("Recidivism", "Escalation", "Verified image", "Targeted for removal"):
        assert f"<dt>{term}</dt>" in html
