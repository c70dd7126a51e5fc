"""The Reports dashboard: Figure 1.0, Table 1.0, removal curves and breakdowns, with downloads.

Who may read it: senior analysts and administrators (`senior_analyst` and up). The figures carry
no images, but they name providers and show how fast each one acts on notices, which is
operational intelligence an analyst's work (classifying suspects) does not need. Regulators get
no console account: a senior analyst downloads the self-contained HTML report (or the JSON and
CSV) from this page and sends it, so what a regulator sees is exactly what was exported.

The report is computed from the store on request and kept per app for `CACHE_SECONDS`, keyed on
the newest notice, re-check, detection and the suspect backlog, so a change in the data is shown
at the next request and repeated views (the page, then its chart) cost one computation.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from orbweaver.reports import (
    Report,
    build_report,
    load_inputs,
    removal_curves_png,
    render_html,
    table_csv,
)
from orbweaver.store import Store
from orbweaver.web.console.pages import NO_STORE, render
from orbweaver.web.console.security import PageAuth, page_user
from orbweaver.web.context import get_context

router = APIRouter(prefix="/console/reports", include_in_schema=False)
reader = page_user("senior_analyst")
CACHE_SECONDS = 30.0
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"

VERSION_SQL = sa.text(
    "SELECT (SELECT MAX(id) FROM notice), (SELECT MAX(id) FROM recheck), "
    "(SELECT MAX(id) FROM detection), "
    "(SELECT COUNT(*) FROM suspect WHERE status = 'pending')"
)


@dataclass
class _Cached:
    key: tuple[Any, ...]
    built: float
    report: Report
    outputs: dict[str, bytes] = field(default_factory=dict)


class ReportCache:
    """One report per app, rebuilt when the data moved or after `CACHE_SECONDS`."""

    def __init__(self, seconds: float = CACHE_SECONDS) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._entry: _Cached | None = None

    def report(self, store: Store) -> _Cached:
        with store.engine.connect() as conn:
            key = tuple(conn.execute(VERSION_SQL).one())
        with self._lock:
            entry = self._entry
            fresh = entry is not None and entry.key == key
            if entry is None or not fresh or time.monotonic() - entry.built > self.seconds:
                entry = _Cached(key, time.monotonic(), build_report(load_inputs(store)))
                self._entry = entry
            return entry

    def output(self, store: Store, name: str, generated_at: datetime | None = None) -> bytes:
        """A rendered output of the current report (the chart, the HTML page), made once."""
        entry = self.report(store)
        with self._lock:
            if name not in entry.outputs:
                if name == "curves.png":
                    entry.outputs[name] = removal_curves_png(entry.report)
                else:
                    html = render_html(entry.report, generated_at=generated_at)
                    entry.outputs[name] = html.encode()
            return entry.outputs[name]


def _cache(request: Request) -> ReportCache:
    cache: ReportCache | None = getattr(request.app.state, "reports_cache", None)
    if cache is None:
        cache = ReportCache()
        request.app.state.reports_cache = cache
    return cache


def _store(request: Request) -> Store:
    return get_context(request).store


def _download(body: bytes | str, media_type: str, filename: str) -> Response:
    headers = dict(NO_STORE)
    headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    # The HTML report is a self-contained document (inline style, inline chart, no script).
    headers["Content-Security-Policy"] = REPORT_CSP
    return Response(body, media_type=media_type, headers=headers)


@router.get("")
def dashboard(request: Request, auth: PageAuth = Depends(reader)) -> Response:
    report = _cache(request).report(_store(request)).report
    return render(
        request,
        "reports.html",
        auth,
        figure=report.figure_1_0(),
        overall=report.overall.as_detail(),
        providers=[p.as_detail() for p in report.providers],
        breakdowns=[
            ("By category", "category", [r.as_detail() for r in report.by_category]),
            ("By network", "network", [r.as_detail() for r in report.by_network]),
            ("By media type", "media type", [r.as_detail() for r in report.by_media_type]),
            ("By month of first notice", "month", [r.as_detail() for r in report.by_month]),
        ],
        detected_by_category=report.inputs.detected_by_category,
        naive=report.naive_overall,
        provider_ids=_provider_ids(request),
    )


def _provider_ids(request: Request) -> dict[str, int]:
    """Table 1.0's provider names link to their console pages."""
    import sqlalchemy as sa

    from orbweaver.store.models import Provider

    with _store(request).session() as s:
        return {str(n): int(i) for n, i in s.execute(sa.select(Provider.name, Provider.id))}


@router.get("/curves.png")
def curves(request: Request, auth: PageAuth = Depends(reader)) -> Response:
    png = _cache(request).output(_store(request), "curves.png")
    return Response(png, media_type="image/png", headers=NO_STORE)


@router.get("/report.json")
def report_json(request: Request, auth: PageAuth = Depends(reader)) -> Response:
    report = _cache(request).report(_store(request)).report
    body = json.dumps(report.contract(), indent=2) + "\n"
    return _download(body, "application/json", "report.json")


@router.get("/table-1.0.csv")
def table_1_0_csv(request: Request, auth: PageAuth = Depends(reader)) -> Response:
    report = _cache(request).report(_store(request)).report
    return _download(table_csv(report.providers), "text/csv; charset=utf-8", "table-1.0.csv")


@router.get("/report.html")
def report_html(request: Request, auth: PageAuth = Depends(reader)) -> Response:
    now = get_context(request).clock.now()
    html = _cache(request).output(_store(request), "report.html", now)
    return _download(html, "text/html; charset=utf-8", "report.html")
