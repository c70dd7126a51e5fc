"""The crawl's state in the store: seeds (incl. public reports) and the re-crawl schedule.

The request queue itself lives in Scrapy's JOBDIR (one machine) or Redis (several); these rows are
what must survive both: which seeds were reached, and which pages to visit again for new uploads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from orbweaver.clock import Clock, ensure_utc
from orbweaver.store import EventKind, Store, record_event, store_time
from orbweaver.store.models import CrawlPage, CrawlSeed

SOURCES = ("cli", "file", "report")


def url_hash(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8", "surrogateescape")).hexdigest()


def page_key(url: str) -> bytes:
    """A scheduled page's key: 16 bytes of the URL's SHA-256 (a collision among 10^12 pages has
    odds about 10^-15)."""
    return hashlib.sha256(url.encode("utf-8", "surrogateescape")).digest()[:16]


@dataclass(frozen=True)
class Start:
    """A URL the spider should start from, and why."""

    url: str
    reason: str  # "seed" or "recrawl"
    depth: int = 0
    network_tor: bool = False
    epoch: str = ""


def add_seeds(
    store: Store,
    clock: Clock,
    urls: Iterable[str],
    *,
    source: str = "cli",
    reporter: str = "",
    note: str = "",
) -> int:
    """Record seed URLs (once each); a report is a seed with `source="report"` and its reporter.
    Returns how many were new. Several crawler processes may record the same seeds at once: a
    unique violation means another one won, and the insert is retried without those."""
    items = list(urls)
    try:
        return _add_seeds(store, clock, items, source=source, reporter=reporter, note=note)
    except sa.exc.IntegrityError:
        return _add_seeds(store, clock, items, source=source, reporter=reporter, note=note)


def _add_seeds(
    store: Store,
    clock: Clock,
    urls: Iterable[str],
    *,
    source: str = "cli",
    reporter: str = "",
    note: str = "",
) -> int:
    if source not in SOURCES:
        raise ValueError(f"unknown seed source {source!r}")
    now = clock.now()
    wanted = {url_hash(u): u for u in (u.strip() for u in urls) if u}
    added = 0
    with store.session() as session:
        known = set(
            session.scalars(sa.select(CrawlSeed.url_hash).where(CrawlSeed.url_hash.in_(wanted)))
        )
        for digest, url in wanted.items():
            if digest in known:
                continue
            seed = CrawlSeed(
                url=url,
                url_hash=digest,
                source=source,
                reporter=reporter,
                note=note,
                created_at=now,
            )
            session.add(seed)
            added += 1
            if source == "report":
                session.flush()
                record_event(
                    session,
                    clock,
                    EventKind.CRAWL_REPORT,
                    subject_type="crawl_seed",
                    subject_id=seed.id,
                    actor=reporter or "public",
                    payload={"url": url},
                )
    return added


def pending_starts(store: Store, clock: Clock, *, limit: int = 100_000) -> list[Start]:
    """Seeds never fetched, then pages whose re-crawl is due (each with its schedule epoch, so
    several crawler processes fetch a due page once, not once each)."""
    now = clock.now()
    with store.session() as session:
        seeds = session.scalars(
            sa.select(CrawlSeed.url)
            .where(CrawlSeed.fetched_at.is_(None))
            .order_by(CrawlSeed.id)
            .limit(limit)
        ).all()
        due = session.execute(
            sa.select(CrawlPage.url, CrawlPage.depth, CrawlPage.network, CrawlPage.next_crawl_at)
            .where(CrawlPage.next_crawl_at.is_not(None), CrawlPage.next_crawl_at <= now)
            .order_by(CrawlPage.next_crawl_at)
            .limit(limit)
        ).all()
    starts = [Start(url, "seed") for url in seeds]
    starts.extend(
        Start(url, "recrawl", depth, network == "tor", ensure_utc(at).isoformat() if at else "")
        for url, depth, network, at in due
    )
    return starts


@dataclass
class PageVisit:
    """One fetched page, as the store writer records it."""

    url: str
    host: str
    network: str
    reached_from_tor: bool
    depth: int
    media_links: int
    seed: bool


def record_pages(
    session: sa.orm.Session, visits: list[PageVisit], now: datetime, every: float
) -> None:
    """Mark seeds fetched, put pages that linked media on the re-crawl schedule, and move
    every scheduled page that was visited again to its next turn.

    A scheduled page visited again without media links (they were removed, or the page now
    answers an error) is still re-crawled later, since content comes back (recidivism); but its
    turn moves on, or it stays due for ever and the re-crawl queue's oldest-due age grows without
    bound."""
    from datetime import timedelta

    naive = store_time(now)
    seeds = [url_hash(v.url) for v in visits if v.seed]
    if seeds:
        session.execute(
            sa.update(CrawlSeed)
            .where(CrawlSeed.url_hash.in_(seeds), CrawlSeed.fetched_at.is_(None))
            .values(fetched_at=naive)
        )
    visited = {page_key(v.url): v for v in visits}
    if not visited:
        return
    existing = {
        row.url_key: row
        for row in session.scalars(sa.select(CrawlPage).where(CrawlPage.url_key.in_(list(visited))))
    }
    next_at = naive + timedelta(seconds=every) if every > 0 else None
    for digest, visit in visited.items():
        row = existing.get(digest)
        if row is None:
            if visit.media_links <= 0:
                continue
            session.add(
                CrawlPage(
                    url=visit.url,
                    url_key=digest,
                    host=visit.host,
                    network=visit.network,
                    reached_from_tor=visit.reached_from_tor,
                    depth=visit.depth,
                    media_links=visit.media_links,
                    crawl_count=1,
                    first_crawled_at=naive,
                    last_crawled_at=naive,
                    next_crawl_at=next_at,
                )
            )
        else:
            row.media_links = visit.media_links
            row.crawl_count += 1
            row.last_crawled_at = naive
            row.next_crawl_at = next_at
