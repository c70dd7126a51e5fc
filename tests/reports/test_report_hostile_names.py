"""Provider names are RDAP's, chosen by whoever registers a network (issue 14, item 10): the
removal-curve chart draws them as plain text and Table 1.0's CSV never carries a formula."""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest

from orbweaver.reports import render_html, table_csv
from orbweaver.reports.render import removal_curves_png
from orbweaver.reports.tables import ReportInputs, build_report
from reports.test_reports import synthetic_notices

HOSTILE_NAMES = [
    "$\\frac{a}{$",  # unbalanced mathtext: matplotlib raised
    "$x^{2$ Hosting",
    '=HYPERLINK("http://evil.test","click")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\tTab =1+1",
    "_hidden_in_legend",
    "Right\u202eLeft\x00\x1b[31m",
]


def _report(names: list[str]) -> object:
    rng = np.random.default_rng(3)
    notices = pd.concat(
        [synthetic_notices(rng, name, 20, 2.0) for name in names], ignore_index=True
    )
    return build_report(ReportInputs(notices=notices, detected=200, detected_clear_web=200))


def test_the_chart_and_the_html_report_draw_hostile_names() -> None:
    report = _report(HOSTILE_NAMES)
    png = removal_curves_png(report)  # type: ignore[arg-type]
    assert png.startswith(b"\x89PNG")
    html = render_html(report)  # type: ignore[arg-type]
    assert "data:image/png;base64," in html
    assert "=HYPERLINK(&#34;http://evil.test&#34;" in html or "=HYPERLINK(&quot;" in html


@pytest.mark.parametrize("name", HOSTILE_NAMES[2:7])
def test_table_csv_neutralises_formula_cells(name: str) -> None:
    report = _report([name, "PlainHost"])
    rows = list(csv.DictReader(io.StringIO(table_csv(report.providers))))  # type: ignore[attr-defined]
    names = {r["name"] for r in rows}
    assert "PlainHost" in names
    assert "'" + name in names
    for row in rows:
        for cell in row.values():
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), cell
            if cell.startswith("-"):
                float(cell)  # only numbers may start with a minus
