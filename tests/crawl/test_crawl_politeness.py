"""One per-host politeness budget shared by processes (issue 15): the page crawl and the media
workers of one machine (`LocalHostBudget`), or of several through Redis (`RedisHostBudget`)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import sqlalchemy as sa
from loopback import LoopbackHTTP, html, synthetic_png

from orbweaver.crawl.politeness import LocalHostBudget, RedisHostBudget

REDIS = "redis://127.0.0.1:6379/0"

# One process of the two: `fetches` concurrent GETs of `url`, each inside a slot of the budget.
CHILD = """
import asyncio, sys, urllib.request
from orbweaver.crawl.politeness import LocalHostBudget, RedisHostBudget, acquire

kind, where, prefix, url, fetches = sys.argv[1:6]
budget = (LocalHostBudget(where, 2, 0.0) if kind == "local"
          else RedisHostBudget(where, prefix, 2, 0.0, ttl_s=60))

async def one() -> None:
    token = await acquire(budget, "127.0.0.1")
    try:
        await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=60).read())
    finally:
        budget.release("127.0.0.1", token)

async def main() -> None:
    await asyncio.gather(*(one() for _ in range(int(fetches))))

asyncio.run(main())
"""


class Concurrency:
    """Slow routes that record how many requests they served at once, all of them together."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = self.most = self.served = 0

    def route(self, body: bytes, content_type: str) -> Callable[[BaseHTTPRequestHandler], None]:
        def handle(h: BaseHTTPRequestHandler) -> None:
            with self.lock:
                self.now += 1
                self.most = max(self.most, self.now)
            time.sleep(0.2)
            with self.lock:
                self.now -= 1
                self.served += 1
            h.send_response(200)
            h.send_header("Content-Type", content_type)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)

        return handle

    def __call__(self, h: BaseHTTPRequestHandler) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(0.3)
        with self.lock:
            self.now -= 1
            self.served += 1
        h.send_response(200)
        h.send_header("Content-Length", "2")
        h.end_headers()
        h.wfile.write(b"ok")


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    import redis

    prefix = f"orbweaver-test:{uuid.uuid4().hex}"
    yield prefix
    server = redis.Redis.from_url(REDIS)
    keys = list(server.scan_iter(f"{prefix}:*"))
    if keys:
        server.delete(*keys)


def _two_processes(http: LoopbackHTTP, kind: str, where: str, prefix: str = "") -> Concurrency:
    route = Concurrency()
    url = http.add("/slow", handler=route)
    argv = [sys.executable, "-c", CHILD, kind, where, prefix, url, "4"]
    procs = [subprocess.Popen(argv) for _ in range(2)]
    try:
        for proc in procs:
            assert proc.wait(timeout=120) == 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return route


def test_two_processes_share_one_hosts_slots_on_one_machine(
    http: LoopbackHTTP, tmp_path: Path
) -> None:
    # 2 processes x 4 fetches wanted, one budget of 2 for the host: never more than 2 at once
    route = _two_processes(http, "local", str(tmp_path / "hosts"))
    assert route.served == 8
    assert route.most <= 2


@pytest.mark.redis
def test_two_processes_share_one_hosts_slots_through_redis(
    http: LoopbackHTTP, redis_prefix: str
) -> None:
    route = _two_processes(http, "redis", REDIS, redis_prefix)
    assert route.served == 8
    assert route.most <= 2


def test_the_delay_between_two_starts_holds_across_processes(tmp_path: Path) -> None:
    # two budgets on one directory are two processes' (flock is per open file)
    a = LocalHostBudget(tmp_path, 4, 30.0)
    b = LocalHostBudget(tmp_path, 4, 30.0)
    token, _ = a.try_acquire("h.test")
    assert token is not None
    again, wait = b.try_acquire("h.test")
    assert again is None and 25.0 < wait <= 30.0  # the other process waits out the delay
    other, _ = b.try_acquire("other.test")  # another host is not held up
    assert other is not None
    a.release("h.test", token)
    assert b.try_acquire("h.test")[0] is None  # released: still the delay, not the slot
    a.close()
    b.close()


def test_slots_are_per_process_and_freed_when_released_or_closed(tmp_path: Path) -> None:
    a = LocalHostBudget(tmp_path, 2, 0.0)
    b = LocalHostBudget(tmp_path, 2, 0.0)
    one, _ = a.try_acquire("h.test")
    two, _ = b.try_acquire("h.test")
    assert one is not None and two is not None
    assert a.try_acquire("h.test")[0] is None and b.try_acquire("h.test")[0] is None
    b.close()  # a process that exits (or dies) frees its slots
    three, _ = a.try_acquire("h.test")
    assert three is not None
    a.release("h.test", one)
    a.release("h.test", three)
    a.close()


@pytest.mark.redis
def test_the_redis_budget_holds_slots_and_the_delay(redis_prefix: str) -> None:
    a = RedisHostBudget(REDIS, redis_prefix, 1, 30.0, ttl_s=60)
    b = RedisHostBudget(REDIS, redis_prefix, 1, 0.0, ttl_s=60)
    token, _ = a.try_acquire("h.test")
    assert token is not None
    assert b.try_acquire("h.test")[0] is None  # the one slot is held
    a.release("h.test", token)
    again, wait = a.try_acquire("h.test")  # the slot is free, the delay is not over
    assert again is None and 25.0 < wait <= 30.0
    assert b.try_acquire("other.test")[0] is not None


@pytest.mark.slow
def test_the_page_crawl_and_its_media_workers_share_one_hosts_budget(
    http: LoopbackHTTP, crawler
) -> None:
    """`--per-host 1` with two media workers: one request at a time to the host, pages and
    media together (each process kept its own budget: up to three at once)."""
    from orbweaver.store.models import Sighting

    seen = Concurrency()
    pages = [f"/p{i}" for i in range(4)]
    images = [f"/img/{i}.png" for i in range(8)]
    for i, path in enumerate(images):
        http.add(path, handler=seen.route(synthetic_png(300 + i, size=32), "image/png"))
    for i, path in enumerate(pages):
        body = html(f'<img src="{images[2 * i]}">', f'<img src="{images[2 * i + 1]}">')
        http.add(path, handler=seen.route(body.encode(), "text/html"))
    http.add("/", html(*(f'<a href="{p}">page</a>' for p in pages)))
    run = crawler.run(
        http.url("/"), "--no-jobdir", "--per-host", "1", "--media-workers", "2", timeout=180
    )
    assert run.returncode == 0, run.stderr + run.log
    assert seen.served == len(pages) + len(images)
    assert seen.most == 1
    store = crawler.store()
    with store.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Sighting)) == len(images)
    store.dispose()
