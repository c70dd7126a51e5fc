"""Resumability (stop/restart loses no sighting, refetches at most what was in flight) and the
shared Redis frontier (two processes: the union covers the site, no URL fetched twice)."""

from __future__ import annotations

import signal
import subprocess
import time
import uuid
from http.server import BaseHTTPRequestHandler

import pytest
import sqlalchemy as sa
from loopback import LoopbackHTTP, html, synthetic_png

from orbweaver.store.models import CrawlPage, Sighting

PAGES = 120


def slow_page(body: bytes, delay: float):
    def handle(h: BaseHTTPRequestHandler) -> None:
        time.sleep(delay)
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return handle


def chain_site(http: LoopbackHTTP, delay: float) -> list[str]:
    """PAGES pages in a chain (and a fan-out index), each linking one distinct picture."""
    images = []
    for i in range(PAGES):
        http.add(f"/img/{i}.png", synthetic_png(1000 + i), content_type="image/png")
        images.append(http.url(f"/img/{i}.png"))
        nxt = f'<a href="/p/{i + 1}">next</a>' if i + 1 < PAGES else ""
        body = f'<html><body><img src="/img/{i}.png">{nxt}</body></html>'.encode()
        http.add(f"/p/{i}", handler=slow_page(body, delay))
    index = "".join(f'<a href="/p/{i}">{i}</a>' for i in range(0, PAGES, 10))
    http.add("/", f"<html><body>{index}</body></html>")
    return images


def sighting_urls(crawler) -> list[str]:
    with crawler.store().session() as s:
        return list(s.scalars(sa.select(Sighting.url)))


@pytest.mark.slow
def test_stop_and_restart_loses_nothing(http: LoopbackHTTP, crawler) -> None:
    images = chain_site(http, delay=0.05)
    log = crawler.tmp / "first.log"
    argv = crawler.command(
        "crawl",
        http.url("/"),
        "--until-idle",
        "--no-progress",
        "--log-file",
        str(log),
        "--depth",
        "200",
        "--concurrency",
        "4",
        "--per-host",
        "4",
    )
    proc = subprocess.Popen(argv, env=crawler.environ())
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.5)
        if crawler.tmp.joinpath("orbweaver.db").exists() and len(sighting_urls(crawler)) >= 20:
            break
    proc.send_signal(signal.SIGINT)  # graceful: in-flight requests finish, the queue stays
    assert proc.wait(timeout=120) == 0
    first = sighting_urls(crawler)
    assert 20 <= len(first) < PAGES, "stopped too late to test anything"
    run = crawler.run("--depth", "200")  # no URL: resume from the JOBDIR frontier
    assert run.returncode == 0, run.stderr[-2000:] + run.log[-2000:]
    urls = sighting_urls(crawler)
    assert sorted(set(urls)) == sorted(images), "a sighting was lost"
    refetched = sum(http.hits[f"/img/{i}.png"] for i in range(PAGES)) - PAGES
    assert refetched <= 4, f"{refetched} pictures fetched again (more than were in flight)"
    assert len(urls) - PAGES == refetched


@pytest.mark.redis
@pytest.mark.slow
def test_two_processes_share_one_frontier_through_redis(http: LoopbackHTTP, crawler) -> None:
    import redis

    # Slow enough (12 chains of 10 pages at 0.4 s, 4 at a time: ~12 s) that the site outlasts the
    # seconds one node may take longer than the other to start, so both nodes get work.
    images = chain_site(http, delay=0.4)
    prefix = f"orbweaver-test:{uuid.uuid4().hex}"
    server = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    env = crawler.environ(ORBWEAVER_REDIS_URL="redis://127.0.0.1:6379/0")
    procs = []
    try:
        for n in range(2):
            argv = crawler.command(
                "crawl",
                http.url("/"),
                "--until-idle",
                "--no-progress",
                "--log-file",
                str(crawler.tmp / f"node-{n}.log"),
                "--redis-prefix",
                prefix,
                "--depth",
                "200",
                "--concurrency",
                "4",
                "--per-host",
                "4",
            )
            procs.append(subprocess.Popen(argv, env=env))
        assert [p.wait(timeout=240) for p in procs] == [0, 0]
        logs = [(crawler.tmp / f"node-{n}.log").read_text() for n in range(2)]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        keys = list(server.scan_iter(f"{prefix}:*"))
        if keys:
            server.delete(*keys)
    urls = sighting_urls(crawler)
    assert sorted(urls) == sorted(images)  # the union covers the site, each picture once
    assert all(count == 1 for count in http.hits.values()), "a URL was fetched twice"
    # both nodes did part of the work (neither crawled the site alone)
    assert all("'orbweaver/pages'" in log for log in logs)


@pytest.mark.parametrize("now_serves", ["404", "no-media"])
def test_a_scheduled_page_without_media_moves_to_its_next_turn(
    http: LoopbackHTTP, crawler, now_serves: str
) -> None:
    """A page on the re-crawl schedule that now answers 404, or links no media any more, is
    still a visit: its turn moves on (it used to stay due for ever, and the re-crawl queue's
    oldest-due age grew without bound, as the fault campaign's soak showed)."""
    from datetime import UTC, datetime

    http.add("/img/a.png", synthetic_png(3), content_type="image/png")
    http.add("/", html('<img src="/img/a.png">'))
    run = crawler.run(http.url("/"), "--recrawl-every", "1")
    assert run.returncode == 0, run.stderr[-3000:] + run.log[-3000:]
    store = crawler.store()
    with store.session() as s:
        page = s.scalars(sa.select(CrawlPage)).one()
        assert (page.crawl_count, page.media_links) == (1, 1)

    if now_serves == "404":
        http.add("/", "gone", status=404)
    else:
        http.add("/", html("<p>nothing here now</p>"))
    time.sleep(1.5)  # the page falls due (the schedule is in the crawler's real clock)
    run = crawler.run("--recrawl-every", "3600")
    assert run.returncode == 0, run.stderr[-3000:] + run.log[-3000:]
    with store.session() as s:
        page = s.scalars(sa.select(CrawlPage)).one()
        assert (page.crawl_count, page.media_links) == (2, 0)
        assert page.next_crawl_at is not None
        assert page.next_crawl_at > datetime.now(UTC).replace(tzinfo=None)
