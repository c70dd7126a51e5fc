"""The crawl in the console (issue 20): seeds and public reports, re-crawls due, throughput.

Who: senior analysts and administrators, as for providers and notices (seeds and reports name
sites). Read-only: seeds are added with `orbweaver submit` or the public report form.

Errors by kind come from `crawl_error_day` (the store writer adds each process's failures by kind
with its batches), the same failures `orbweaver_errors_total{stage="crawl"}` counts.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from orbweaver.store import store_now
from orbweaver.store.models import CrawlErrorDay, CrawlHostDay, CrawlPage, CrawlSeed, Event
from orbweaver.web.console.pages import render, senior
from orbweaver.web.console.security import PageAuth, SessionFirstRoute
from orbweaver.web.context import get_context

router = APIRouter(prefix="/console", include_in_schema=False, route_class=SessionFirstRoute)
LIST = 50  # seeds, reports and due pages listed (the counts are of all)
DAYS = 14  # days of throughput shown


@router.get("/crawl")
def crawl_page(request: Request, auth: PageAuth = Depends(senior)) -> Response:
    context = get_context(request)
    now = store_now(context.clock)
    with context.store.session() as s:
        seeds = _seeds(s)
        reports = _listed(s, CrawlSeed.source == "report")
        pending = _listed(s, CrawlSeed.fetched_at.is_(None))
        due = _due(s, now)
        days = _throughput(s, now.date() - timedelta(days=DAYS - 1))
        batches = _batches(s, now - timedelta(days=DAYS))
        error_days, errors = _errors(s, now.date() - timedelta(days=DAYS - 1))
        s.expunge_all()
    return render(
        request,
        "crawl.html",
        auth,
        seeds=seeds,
        reports=reports,
        pending=pending,
        due=due,
        days=days,
        batches=batches,
        window=DAYS,
        error_days=error_days,
        errors=errors,
    )


def _seeds(s: Any) -> list[dict[str, Any]]:
    """Seeds per source (cli, file, report...): how many, how many not fetched yet."""
    pending = sa.func.sum(sa.case((CrawlSeed.fetched_at.is_(None), 1), else_=0))
    rows = s.execute(
        sa.select(CrawlSeed.source, sa.func.count(), pending)
        .group_by(CrawlSeed.source)
        .order_by(CrawlSeed.source)
    )
    return [{"source": src, "n": int(n), "pending": int(p or 0)} for src, n, p in rows]


def _listed(s: Any, where: Any) -> list[CrawlSeed]:
    return list(
        s.scalars(sa.select(CrawlSeed).where(where).order_by(CrawlSeed.id.desc()).limit(LIST))
    )


def _due(s: Any, now: Any) -> dict[str, Any]:
    due = CrawlPage.next_crawl_at <= now
    count = s.scalar(sa.select(sa.func.count()).where(due)) or 0
    oldest = s.scalar(sa.select(sa.func.min(CrawlPage.next_crawl_at)).where(due))
    pages = s.scalars(
        sa.select(CrawlPage).where(due).order_by(CrawlPage.next_crawl_at).limit(LIST)
    ).all()
    scheduled = s.scalar(sa.select(sa.func.count()).where(CrawlPage.next_crawl_at > now)) or 0
    return {"count": int(count), "oldest": oldest, "pages": list(pages), "later": int(scheduled)}


def _throughput(s: Any, since: Any) -> list[dict[str, Any]]:
    """Pictures fetched and matched-nothing per UTC day (all hosts), newest first."""
    rows = s.execute(
        sa.select(
            CrawlHostDay.day, sa.func.sum(CrawlHostDay.fetched), sa.func.sum(CrawlHostDay.unmatched)
        )
        .where(CrawlHostDay.day >= since.isoformat())
        .group_by(CrawlHostDay.day)
        .order_by(CrawlHostDay.day.desc())
    )
    return [{"day": d, "fetched": int(f or 0), "unmatched": int(u or 0)} for d, f, u in rows]


def _batches(s: Any, since: Any) -> dict[str, int]:
    """Batches with hits written in the window, and their sightings, detections, suspects."""
    totals = {"batches": 0, "sightings": 0, "detections": 0, "suspects": 0}
    for (payload,) in s.execute(
        sa.select(Event.payload).where(Event.kind == "crawl.batch", Event.at >= since)
    ):
        totals["batches"] += 1
        for key in ("sightings", "detections", "suspects"):
            totals[key] += int((payload or {}).get(key) or 0)
    return totals


def _errors(s: Any, since: Any) -> tuple[list[str], list[tuple[str, int, list[int]]]]:
    """The days with errors in the window (newest first) and, per kind (most first), its
    total and its count on each of those days."""
    rows = s.execute(
        sa.select(CrawlErrorDay.day, CrawlErrorDay.kind, CrawlErrorDay.count).where(
            CrawlErrorDay.day >= since.isoformat()
        )
    ).all()
    days = sorted({d for d, _, _ in rows}, reverse=True)
    by_kind: dict[str, dict[str, int]] = {}
    for day, kind, n in rows:
        by_kind.setdefault(kind, {})[day] = int(n or 0)
    table = [
        (kind, sum(counts.values()), [counts.get(d, 0) for d in days])
        for kind, counts in by_kind.items()
    ]
    table.sort(key=lambda row: (-row[1], row[0]))
    return days, table
