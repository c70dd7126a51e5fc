"""The crawl page in Debian's Chromium (issue 20): seeds by source, public reports, re-crawls
due, throughput; axe-core clean; screenshot to docs/ with ORBWEAVER_UPDATE_DOCS=1."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from review_world import PASSWORD, World
from test_console_axe import RUN, axe_source, small_png
from test_review_browser import ARGS, CHROMIUM, login, serving

from orbweaver.crawl import add_seeds
from orbweaver.review import add_user
from orbweaver.store import EventKind, record_event, store_now
from orbweaver.store.models import CrawlHostDay, CrawlPage

pytestmark = pytest.mark.browser


def crawl_world(world: World) -> None:
    """Three seeds from the command line, two public reports (one fetched), three pages (two
    due, the oldest 3 hours ago), two days of fetches and one batch with hits."""
    clock, store = world.clock, world.store
    add_seeds(store, clock, [f"http://board{i}.example.test/" for i in range(3)])
    add_seeds(
        store,
        clock,
        ["http://files.example.test/a/", "http://pics.example.test/b/"],
        source="report",
        reporter="form",
        note="reported through the form",
    )
    now = store_now(clock)
    with store.session() as s:
        from orbweaver.store.models import CrawlSeed

        s.query(CrawlSeed).filter(CrawlSeed.url == "http://files.example.test/a/").update(
            {"fetched_at": now}
        )
        for i, hours in enumerate((-3, -1, 5)):
            s.add(
                CrawlPage(
                    url=f"http://board.example.test/t/{i}",
                    url_hash=f"{i:064x}",
                    host="board.example.test",
                    media_links=4 + i,
                    first_crawled_at=now - timedelta(days=2),
                    last_crawled_at=now - timedelta(days=1),
                    next_crawl_at=now + timedelta(hours=hours),
                )
            )
        today, yesterday = now.date(), now.date() - timedelta(days=1)
        s.add(
            CrawlHostDay(
                host="board.example.test", day=today.isoformat(), fetched=120, unmatched=117
            )
        )
        s.add(
            CrawlHostDay(host="files.example.test", day=today.isoformat(), fetched=30, unmatched=30)
        )
        s.add(
            CrawlHostDay(
                host="board.example.test", day=yesterday.isoformat(), fetched=1500, unmatched=1490
            )
        )
        record_event(
            s,
            clock,
            EventKind.CRAWL_BATCH,
            payload={"detections": 3, "suspects": 2, "sightings": 5},
        )


def test_the_crawl_page(sqlite_world: World, screenshot_dir: Path) -> None:
    from playwright.sync_api import sync_playwright

    source = axe_source()
    world = sqlite_world
    crawl_world(world)
    with world.store.session() as s:
        add_user(s, world.clock, "sam", "senior_analyst", PASSWORD)
        add_user(s, world.clock, "ana", "analyst", PASSWORD)
    with serving(world, review_totp_roles="") as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
        page = context.new_page()  # bypass_csp: for axe-core's injected script only
        login(page, base, "sam")
        page.click("nav >> text=Crawl")
        page.wait_for_url(f"{base}/console/crawl")
        seeds = page.locator("#seeds + table tbody tr").all_inner_texts()
        assert [" ".join(r.split()) for r in seeds] == ["cli 3 3", "public report 2 1"]
        reports = page.inner_text("#reports + table")
        assert "http://pics.example.test/b/" in reports and "not yet" in reports
        assert "reported through the form" in reports
        due = page.inner_text("#due + p")
        assert due.startswith("2 pages due now") and "1 scheduled later" in due
        assert page.locator("#due ~ table").first.locator("tbody tr").count() == 2
        throughput = page.inner_text("#throughput ~ table")
        assert "1,500" in throughput and "150" in throughput  # yesterday; today's two hosts
        assert "1 batches with hits: 5 sightings, 3 detections, 2 suspects" in page.inner_text(
            "#throughput + p"
        )
        assert "orbweaver_errors_total" in page.inner_text("#errors + p")
        page.add_script_tag(content=source)
        result = page.evaluate(RUN)
        assert result["passed"] > 5 and not result["bad"], result["bad"]
        shot = screenshot_dir / "console-crawl.png"
        page.screenshot(path=str(shot), full_page=True)
        small_png(shot)

        analyst = browser.new_page()
        login(analyst, base, "ana")
        assert "/console/crawl" not in analyst.content()  # not offered to an analyst
        answer = analyst.goto(f"{base}/console/crawl")
        assert answer is not None and answer.status == 403
        browser.close()
