"""The reports stage (docs/architecture.md): censoring-aware removal figures, Table 1.0 and its
breakdowns, as JSON, CSV, HTML and charts.

Public surface (other stages import these from `orbweaver.reports`, never from its modules):
reading the store (`load_inputs`, `load_notices`, `recheck_cadence`), building (`build_report`,
`Report`, `ReportInputs`), rendering (`write_all`, `write_json`, `render_html`, `render_body`,
`table_csv`, `removal_curves_png`, `provider_curve_png`, `print_table`) and the survival statistics
(`kaplan_meier`, `removal_stats`, `naive_stats`). Nothing is imported until used
(`orbweaver._lazy`): NumPy and pandas load with the first report, not with `orbweaver --help`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orbweaver._lazy import lazy_exports

if TYPE_CHECKING:
    from orbweaver.reports.commands import print_table
    from orbweaver.reports.load import load_inputs, load_notices, recheck_cadence
    from orbweaver.reports.render import (
        provider_curve_png,
        removal_curves_png,
        render_body,
        render_html,
        table_csv,
        write_all,
        write_json,
    )
    from orbweaver.reports.survival import kaplan_meier, naive_stats, removal_stats
    from orbweaver.reports.tables import Report, ReportInputs, build_report
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            ".commands": ["print_table"],
            ".load": ["load_inputs", "load_notices", "recheck_cadence"],
            ".render": [
                "provider_curve_png",
                "removal_curves_png",
                "render_body",
                "render_html",
                "table_csv",
                "write_all",
                "write_json",
            ],
            ".survival": ["kaplan_meier", "naive_stats", "removal_stats"],
            ".tables": ["Report", "ReportInputs", "build_report"],
        },
    )

__all__ = [
    "Report",
    "ReportInputs",
    "build_report",
    "kaplan_meier",
    "load_inputs",
    "load_notices",
    "naive_stats",
    "print_table",
    "provider_curve_png",
    "recheck_cadence",
    "removal_curves_png",
    "removal_stats",
    "render_body",
    "render_html",
    "table_csv",
    "write_all",
    "write_json",
]
