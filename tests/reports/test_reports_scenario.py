"""The HTML report shows a simulated world's scenario figures beside the measured ones when it is
given them (issue 18), and nothing of the kind otherwise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from orbweaver.reports.render import render_html, write_all
from orbweaver.reports.tables import Report, ReportInputs, build_report


def _report() -> Report:
    rng = np.random.default_rng(5)
    n = 40
    notices = pd.DataFrame(
        {
            "provider": ["FastHost"] * n + ["SlowHost"] * n,
            "service_type": "hosting_provider",
            "sent_at": pd.Timestamp("2021-01-01"),
            "duration_days": rng.lognormal(0.0, 1.0, 2 * n),
            "removed": True,
            "recidivist": False,
            "category": "csam_prepubescent",
            "reached_from_tor": False,
            "archive": False,
            "members": 1,
            "followups": 1,
            "escalations": 0,
        }
    )
    return build_report(ReportInputs(notices=notices, detected=2 * n, detected_clear_web=2 * n))


def test_scenario_column_beside_the_measured_figures(tmp_path: Path) -> None:
    report = _report()
    figures = {
        "FastHost": {"removal_median_days": 1.5, "removal_p90_days": 27.0, "recidivism_rate": 0.486}
    }
    html = render_html(report, scenario=figures)
    assert "scenario median / p90 / recidivism" in html
    row = next(line for line in html.splitlines() if "<td>FastHost</td>" in line)
    block = html[html.index(row) : html.index("</tr>", html.index(row))]
    assert '<td class="scenario">1.5 / 27.0 / 48.6%</td>' in block
    slow = html[html.index("<td>SlowHost</td>") :]
    assert '<td class="scenario">–</td>' in slow[: slow.index("</tr>")]  # not in the scenario
    paths = write_all(report, tmp_path, scenario=figures)
    assert "1.5 / 27.0 / 48.6%" in paths["html"].read_text()


def test_no_scenario_no_column() -> None:
    html = render_html(_report())
    assert "scenario median" not in html and 'class="scenario"' not in html
