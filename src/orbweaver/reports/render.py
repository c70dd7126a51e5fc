"""Report outputs: JSON (the contract), CSV (Table 1.0) and a self-contained HTML page.

The HTML embeds its charts as PNG data so it can be mailed to a regulator as one file.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import Environment, PackageLoader, select_autoescape

from orbweaver.reports.tables import SMALL_N, GroupRow, Report
from orbweaver.untrusted import csv_cell, plain_label

TABLE_FIELDS = (
    "name",
    "service_type",
    "targeted",
    "pictures",
    "videos",
    "removal_median_days",
    "median_display",
    "median_ci_days",
    "removal_p90_days",
    "p90_display",
    "recidivism_rate",
    "censored",
    "censored_share",
    "followups",
    "escalations",
)


def write_json(report: Report, path: Path, *, detail: bool = False) -> None:
    data = report.detail() if detail else report.contract()
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


def table_csv(rows: list[GroupRow]) -> str:
    """Table 1.0 (or a breakdown: `service_type` then empty) as CSV; provider names come from
    RDAP, so formula-like cells are neutralised."""
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=TABLE_FIELDS, extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow({k: csv_cell(v) for k, v in row.as_detail().items()})
    return out.getvalue()


CURVES_TOP = 8


def removal_curves_png(report: Report, *, top: int = CURVES_TOP) -> bytes:
    """Share of noticed content still online against days since the first notice.

    Provider names are RDAP's, so whatever a registry entry says: every label is plain text
    (mathtext off: `$...$` made matplotlib raise), on one line, of bounded length."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}):
        return _draw_removal_curves(plt, report, top)


# Okabe & Ito's colour-blind-safe palette (black first: the pooled small providers are grey).
OKABE_ITO = (
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#F0E442",
    "#0072B2",
    "#D55E00",
    "#CC79A7",
    "#000000",
)
LINE_STYLES = ("-", "--")
OTHERS_COLOUR = "#999999"


def curve_styles(n: int) -> list[tuple[str, str]]:
    """(colour, line style) for `n` curves, all different: the eight colours, then dashed."""
    return [(OKABE_ITO[i % 8], LINE_STYLES[(i // 8) % 2]) for i in range(n)]


def curve_groups(report: Report, top: int) -> tuple[list[GroupRow], list[GroupRow]]:
    """The `top` providers with most notices get a curve each; the rest are pooled."""
    return report.providers[:top], report.providers[top:]


def _km_step(ax: Any, rows: Any, label: str, colour: str, style: str) -> None:
    """One Kaplan–Meier removal curve (share still online against days since first notice)."""
    from orbweaver.reports.survival import kaplan_meier

    curve = kaplan_meier(
        np.clip(rows["duration_days"].to_numpy(dtype=float), 0, None),
        rows["removed"].to_numpy(dtype=bool),
    )
    times = np.concatenate([[0.0], curve.times])
    survival = np.concatenate([[1.0], curve.survival])
    ax.step(times, survival, where="post", label=label, color=colour, linestyle=style)


def _curve_axes(ax: Any) -> None:
    ax.set_xlabel("days since first notice")
    ax.set_ylabel("share still online (Kaplan–Meier)")
    ax.set_ylim(0, 1.02)
    ax.axhline(0.5, color="grey", lw=0.6, ls=":")
    ax.axhline(0.1, color="grey", lw=0.6, ls=":")
    ax.grid(alpha=0.3)


def provider_curve_png(report: Report, name: str) -> bytes:
    """One provider's removal curve, drawn as in the report's figure (its first colour), over
    that provider's notices in `report` (a report built from its notices alone will do)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    notices = report.inputs.notices
    rows = notices[notices["provider"] == name]
    with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}):
        fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
        if len(rows):
            _km_step(ax, rows, f"{plain_label(name)} (n={len(rows)})", OKABE_ITO[0], "-")
            ax.legend(fontsize=7, loc="upper right")
        _curve_axes(ax)
        ax.set_title("Removal curve (content still online is right-censored)", fontsize=9)
        buffer = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buffer, format="png")
        plt.close(fig)
    return buffer.getvalue()


def _draw_removal_curves(plt: Any, report: Report, top: int) -> bytes:
    notices = report.inputs.notices
    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=110)
    shown, pooled = curve_groups(report, top)

    def draw(rows: Any, label: str, colour: str, style: str) -> None:
        _km_step(ax, rows, label, colour, style)

    for row, (colour, style) in zip(shown, curve_styles(len(shown)), strict=True):
        rows = notices[notices["provider"] == row.name]
        draw(rows, f"{plain_label(row.name)} (n={row.targeted})", colour, style)
    if pooled:
        rows = notices[notices["provider"].isin([r.name for r in pooled])]
        label = f"{len(pooled)} other providers pooled (n={len(rows)})"
        draw(rows, label, OTHERS_COLOUR, ":")
    _curve_axes(ax)
    if report.providers:
        ax.legend(fontsize=7, loc="upper right")
    ax.set_title("Removal curves per provider (content still online is right-censored)")
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def backlog_png(review: Mapping[str, Any]) -> bytes:
    """The review queue's backlog (open items) per simulated day."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = list(review.get("backlog") or [])
    fig, ax = plt.subplots(figsize=(9, 3.5), dpi=110)
    ax.plot([r["day"] for r in series], [r["open"] for r in series], color=OKABE_ITO[4])
    ax.set_xlabel("day")
    ax.set_ylabel("items waiting for a verdict")
    ax.grid(alpha=0.3)
    ax.set_title(f"Review backlog (queue order: {review.get('queue', '?')})")
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("orbweaver.reports", "templates"),
        autoescape=select_autoescape(["html"]),
    )
    env.filters["percent"] = percent
    env.filters["words"] = lambda value: str(value or "").replace("_", " ")
    return env


def percent(share: float | None, digits: int = 0) -> str:
    """A share as a percentage that never reads 0% for something that happened, nor 100% for
    something short of all: "<1%" and ">99%" at the edges."""
    if share is None:
        return "–"
    value = 100 * float(share)
    step = 10**-digits
    if 0 < value < step:
        return f"<{step:g}%"
    if 100 - step < value < 100:
        return f">{100 - step:g}%"
    return f"{value:.{digits}f}%"


def period_of(report: Report) -> tuple[str, str] | None:
    """The first and last day a first notice was sent in the report (UTC), if any."""
    sent = report.inputs.notices["sent_at"]
    if sent.empty:
        return None
    return (str(sent.min())[:10], str(sent.max())[:10])


# The figures a simulated world was built to reproduce, per provider name: removal median and p90
# (days) and recidivism rate, as the world's ground truth gives them under `scenario`.
ScenarioFigures = Mapping[str, Mapping[str, float | None]]


def render_html(
    report: Report,
    *,
    title: str = "orbweaver removal report",
    scenario: ScenarioFigures | None = None,
    review: Mapping[str, Any] | None = None,
    organisation: str = "",
    generated_at: datetime | None = None,
) -> str:
    """The page, saying who issued it, when, and over which period; with `scenario` (a
    simulated world's own figures), Table 1.0 shows them beside
    the measured ones; with `review` (the review queue's figures: suspects, verdicts, noticed
    while online, and `backlog`, open items per day), a section with the backlog over time.
    A self-contained file: its chart is inline PNG data."""
    chart = base64.b64encode(removal_curves_png(report)).decode()
    context = report_context(
        report,
        chart_src=f"data:image/png;base64,{chart}",
        scenario=scenario,
        review=review,
        organisation=organisation,
        generated_at=generated_at,
    )
    return _environment().get_template("report.html").render(title=title, **context)


def render_body(
    report: Report,
    *,
    chart_src: str,
    links: Mapping[str, str] | None = None,
    organisation: str = "",
    generated_at: datetime | None = None,
) -> str:
    """The report's content alone (no page around it), as `render_html` renders it, for the
    console's dashboard: the same figures, tables, rounding and notes; `links` (provider name
    to URL) link Table 1.0's names, `chart_src` is where the chart is served."""
    context = report_context(
        report,
        chart_src=chart_src,
        links=links,
        organisation=organisation,
        generated_at=generated_at,
    )
    return _environment().get_template("report_body.html").render(**context)


def report_context(
    report: Report,
    *,
    chart_src: str,
    links: Mapping[str, str] | None = None,
    scenario: ScenarioFigures | None = None,
    review: Mapping[str, Any] | None = None,
    organisation: str = "",
    generated_at: datetime | None = None,
) -> dict[str, Any]:
    """What `report_body.html` shows: one context for the exported page and the dashboard."""
    review_view: dict[str, Any] | None = None
    if review:
        actionable = review.get("actionable_suspects") or 0
        noticed = review.get("noticed_while_online") or 0
        review_view = {
            **review,
            "noticed_share": noticed / actionable if actionable else None,
            "chart": base64.b64encode(backlog_png(review)).decode(),
        }
    return {
        "scenario": scenario or {},
        "figure": report.figure_1_0(),
        "summary": report.summary(),
        "overall": report.overall.as_detail(),
        "providers": [p.as_detail() for p in report.providers],
        "by_category": [r.as_detail() for r in report.by_category],
        "by_network": [r.as_detail() for r in report.by_network],
        "by_media_type": [r.as_detail() for r in report.by_media_type],
        "by_month": [r.as_detail() for r in report.by_month],
        "by_country": [r.as_detail() for r in report.by_country],
        "detected_by_category": dict(report.inputs.detected_by_category),
        "naive": report.naive_overall,
        "chart_src": chart_src,
        "links": dict(links or {}),
        "review": review_view,
        "organisation": organisation,
        "generated": generated_at.strftime("%Y-%m-%d %H:%M UTC") if generated_at else "",
        "period": period_of(report),
        "pooled": len(curve_groups(report, CURVES_TOP)[1]),
        "small_n": SMALL_N,
    }


def write_all(
    report: Report,
    out_dir: Path,
    *,
    scenario: ScenarioFigures | None = None,
    review: Mapping[str, Any] | None = None,
    organisation: str = "",
    generated_at: datetime | None = None,
) -> dict[str, Path]:
    """report.json (contract), report-detail.json, table-1.0.csv, by-country.csv and
    report.html in `out_dir` (`scenario`, `review`: see `render_html`)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out_dir / "report.json",
        "detail": out_dir / "report-detail.json",
        "csv": out_dir / "table-1.0.csv",
        "countries": out_dir / "by-country.csv",
        "html": out_dir / "report.html",
    }
    write_json(report, paths["json"])
    write_json(report, paths["detail"], detail=True)
    paths["csv"].write_text(table_csv(report.providers))
    paths["countries"].write_text(table_csv(report.by_country))
    html = render_html(
        report,
        scenario=scenario,
        review=review,
        organisation=organisation,
        generated_at=generated_at,
    )
    paths["html"].write_text(html)
    return paths
