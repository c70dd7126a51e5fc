"""The crawl page in Debian's Chromium (issue 20): seeds by source, public reports, re-crawls
due, throughput; axe-core clean; screenshot to docs/ with ORBWEAVER_UPDATE_DOCS=1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from review_world import PASSWORD, World
from test_console_axe import RUN, axe_source, small_png
from test_review_browser import ARGS, CHROMIUM, login, serving

from orbweaver.crawl import add_seeds
from orbweaver.crawl.frontier import page_key
from orbweaver.review import add_user
from orbweaver.store import EventKind, count_error_day, record_event, store_now
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
                    url_key=page_key(f"http://board.example.test/t/{i}"),
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
        count_error_day(s, {"redirect_loop": 4, "oversize": 1}, now)
        count_error_day(s, {"redirect_loop": 2}, now - timedelta(days=1))
        count_error_day(s, {"timeout": 9}, now - timedelta(days=20))  # outside the window
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
        errors = page.locator("#errors ~ table").first.locator("tbody tr").all_inner_texts()
        assert [" ".join(r.split()) for r in errors] == ["redirect_loop 6 4 2", "oversize 1 1"]
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


def _loopback() -> Any:
    """tests/crawl/loopback.py (the crawl tests' loopback server), as a module."""
    import importlib.util
    import sys

    if "loopback" in sys.modules:
        return sys.modules["loopback"]
    path = Path(__file__).parent.parent / "crawl" / "loopback.py"
    spec = importlib.util.spec_from_file_location("loopback", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["loopback"] = module
    spec.loader.exec_module(module)
    return module


def test_errors_by_kind_after_a_crawl(
    sqlite_world: World, tmp_path: Path, screenshot_dir: Path
) -> None:
    """A crawl of a loopback site with a broken image, a redirect loop and an oversize file:
    the crawl page shows those kinds (from the store, after the crawl's processes are gone)."""
    import os
    import subprocess
    import sys

    from playwright.sync_api import sync_playwright

    from orbweaver.store.models import CrawlErrorDay
    from orbweaver.store.vault import new_key

    if not CHROMIUM.exists():
        pytest.skip("Debian's Chromium is not installed (apt-get install -y chromium)")
    lb = _loopback()
    http = lb.LoopbackHTTP()
    try:
        http.add(
            "/broken.jpg", b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8, content_type="image/jpeg"
        )
        http.add("/loop-a.png", handler=lb.redirect("/loop-b.png"))
        http.add("/loop-b.png", handler=lb.redirect("/loop-a.png"))
        http.add("/huge.jpg", handler=lb.endless(10 * 1024**3))
        http.add("/good.png", lb.synthetic_png(1), content_type="image/png")
        http.add(
            "/",
            lb.html(
                *(f'<img src="/{n}">' for n in ("broken.jpg", "loop-a.png", "huge.jpg", "good.png"))
            ),
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORBWEAVER_")}
        for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
            env.pop(proxy, None)
        env.update(
            ORBWEAVER_DATABASE_URL=f"sqlite:///{tmp_path / 'orbweaver.db'}",  # sqlite_world's
            ORBWEAVER_DATA_DIR=str(tmp_path / "data"),
            ORBWEAVER_CRAWL_ALLOW_NETWORKS="127.0.0.1/32",
            ORBWEAVER_SUSPECT_KEY=new_key(),
            ORBWEAVER_DNS_SERVERS="",
            ORBWEAVER_TOR_PROXY="",
            ORBWEAVER_REDIS_URL="",
        )
        log = tmp_path / "crawl.log"
        argv = [sys.executable, "-m", "orbweaver.cli", "crawl", "--until-idle", "--no-progress"]
        done = subprocess.run(
            [*argv, "--log-file", str(log), http.url("/")],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]
    finally:
        http.stop()
    world = sqlite_world
    with world.store.session() as s:
        rows = {r.kind: (r.day, r.count) for r in s.scalars(sa.select(CrawlErrorDay))}
        add_user(s, world.clock, "sam", "senior_analyst", PASSWORD)
    assert {"undecodable", "redirect_loop", "oversize"} <= set(rows), (rows, log.read_text())
    (day,) = {d for d, _ in rows.values()}
    world.clock.set(datetime.fromisoformat(day).replace(hour=23, tzinfo=UTC))
    with serving(world, review_totp_roles="") as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        login(page, base, "sam")
        page.goto(f"{base}/console/crawl")
        table = page.locator("#errors ~ table").first
        shown = {
            r.split()[0]: int(r.split()[1].replace(",", ""))
            for r in table.locator("tbody tr").all_inner_texts()
        }
        assert shown == {kind: n for kind, (_, n) in rows.items()}
        assert day[5:] in table.locator("thead").inner_text()
        page.add_script_tag(content=axe_source())
        result = page.evaluate(RUN)
        assert result["passed"] > 5 and not result["bad"], result["bad"]
        browser.close()
