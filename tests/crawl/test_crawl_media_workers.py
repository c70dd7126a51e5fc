"""Media workers (issue 15): the media queue's claims, and a worker killed with SIGKILL in the
middle of its fetches loses no media URL and fetches again only what it held."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import sqlalchemy as sa
from loopback import LoopbackHTTP, html, synthetic_png
from test_crawl_pipeline import known_bank

from orbweaver.clock import SystemClock
from orbweaver.crawl.mediaqueue import StoreMediaQueue
from orbweaver.crawl.options import CrawlOptions
from orbweaver.crawl.writer import SightingWriter
from orbweaver.store import open_store
from orbweaver.store.models import Detection, MediaTask, Sighting


def test_claims_are_leases_taken_once_and_again_after_they_expire(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'q.db'}")
    writer = SightingWriter(store, SystemClock(), CrawlOptions(), "", lambda k, n: None)
    tasks = [
        {"url": f"http://h.test/{i}.png", "kind": "media", "page_url": "http://h.test/",
         "via_tor": i == 0, "passwords": ["pw"] if i == 1 else []}
        for i in range(5)
    ]  # fmt: skip
    writer.write([], [], tasks)
    first = StoreMediaQueue(store, "a", lease_s=0.5)
    second = StoreMediaQueue(store, "b", lease_s=0.5)
    got = first.claim(3)
    assert [t.url for t in got] == [t["url"] for t in tasks[:3]]
    assert got[0].via_tor and got[1].passwords == ["pw"] and got[1].kind == "media"
    rest = second.claim(10)
    assert [t.url for t in rest] == [t["url"] for t in tasks[3:]]  # never what `a` holds
    assert second.claim(10) == [] and first.depth() == 5
    writer.write([], [], [], [t.id for t in got[:2]])  # `a` wrote two, then died
    time.sleep(0.6)
    again = second.claim(10)
    assert sorted(t.url for t in again) == sorted(t["url"] for t in tasks[2:])
    assert first.depth() == 3
    store.dispose()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


def _wait(what: str, predicate: Callable[[], bool], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.slow
def test_a_killed_media_worker_loses_no_media_url(http: LoopbackHTTP, crawler) -> None:
    gate = threading.Event()
    images = {f"/img/{i}.png": synthetic_png(500 + i, size=48) for i in range(40)}

    def gated(body: bytes) -> Callable[[BaseHTTPRequestHandler], None]:
        def handle(h: BaseHTTPRequestHandler) -> None:
            gate.wait(60)
            h.send_response(200)
            h.send_header("Content-Type", "image/png")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)

        return handle

    for i, (path, body) in enumerate(images.items()):
        if i < 10:
            http.add(path, body, content_type="image/png")
        else:
            http.add(path, handler=gated(body))
    http.add("/", html(*(f'<img src="{p}">' for p in images)))
    store = crawler.store()
    known = list(images.values())[25]
    known_bank(store, [known])
    log = crawler.tmp / "workers.log"
    argv = crawler.command(
        "crawl", "--until-idle", "--no-progress", "--no-jobdir", "--log-file", str(log),
        "--media-workers", "1", "--log-level", "INFO", http.url("/"),
    )  # fmt: skip
    proc = subprocess.Popen(
        argv,
        env=crawler.environ(ORBWEAVER_CRAWL_MEDIA_LEASE_S="3"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        gated_paths = list(images)[10:]
        _wait("the worker fetching", lambda: any(http.hits.get(p) for p in gated_paths))

        def written() -> int:
            with store.session() as s:
                return int(s.scalar(sa.select(sa.func.count()).select_from(Sighting)) or 0)

        _wait("the open pictures written", lambda: written() == 10)
        (worker,) = _children(proc.pid)
        os.kill(worker, signal.SIGKILL)
        gate.set()
        _, stderr = proc.communicate(timeout=180)
    finally:
        gate.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text(errors="replace")
    assert proc.returncode == 0, stderr + text
    assert "died (exit status -9); starting another" in text
    with store.session() as s:
        urls = list(s.scalars(sa.select(Sighting.url)))
        assert sorted(urls) == sorted(http.url(p) for p in images)  # each once, none lost
        (det,) = s.scalars(sa.select(Detection)).all()
        assert s.get(Sighting, det.sighting_id).url == http.url("/img/25.png")
        assert s.scalar(sa.select(sa.func.count()).select_from(MediaTask)) == 0
    # fetched again: only what the killed worker held, never what was written
    assert all(http.hits[p] == 1 for p in list(images)[:10])
    store.dispose()


REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of the test's own on the shared Redis, deleted afterwards."""
    import uuid

    import redis

    prefix = f"orbweaver-test:{uuid.uuid4().hex}"
    yield prefix
    server = redis.Redis.from_url(REDIS)
    keys = list(server.scan_iter(f"{prefix}:*"))
    if keys:
        server.delete(*keys)


@pytest.mark.redis
def test_the_redis_stream_is_claimed_once_and_taken_back_from_a_dead_consumer(
    redis_prefix: str,
) -> None:
    from orbweaver.crawl.mediaqueue import RedisMediaQueue

    tasks = [
        {"url": f"http://h.test/{i}.png", "kind": "media", "page_url": None,
         "via_tor": False, "passwords": ["pw"] if i == 0 else []}
        for i in range(5)
    ]  # fmt: skip
    RedisMediaQueue(REDIS, redis_prefix, "page").add(tasks)
    dead = RedisMediaQueue(REDIS, redis_prefix, "dead", lease_s=0.5)
    alive = RedisMediaQueue(REDIS, redis_prefix, "alive", lease_s=0.5)
    held = dead.claim(3)
    assert [t.url for t in held] == [t["url"] for t in tasks[:3]] and held[0].passwords == ["pw"]
    rest = alive.claim(10)
    assert [t.url for t in rest] == [t["url"] for t in tasks[3:]]
    alive.ack([t.id for t in rest])
    dead.ack([held[0].id])  # wrote one, then died
    assert alive.claim(10) == [] and alive.depth() == 2
    time.sleep(0.7)
    again = alive.claim(10)
    assert [t.url for t in again] == [t["url"] for t in tasks[1:3]]
    alive.renew([t.id for t in again])
    alive.ack([t.id for t in again])
    assert alive.depth() == 0


@pytest.mark.redis
def test_a_refused_stream_entry_backs_off_then_becomes_a_dead_letter_and_is_replayed(
    redis_prefix: str,
) -> None:
    from orbweaver.crawl.mediaqueue import RedisMediaQueue
    from orbweaver.supervise import Backoff

    task = {"url": "http://h.test/p.png", "kind": "media", "page_url": "http://h.test/",
            "via_tor": False, "passwords": ["pw"]}  # fmt: skip
    RedisMediaQueue(REDIS, redis_prefix, "page").add([task])
    queue = RedisMediaQueue(
        REDIS, redis_prefix, "w", lease_s=30.0, max_attempts=2, backoff=Backoff(0.3, 30.0)
    )
    (held,) = queue.claim(5)
    assert queue.fail(held, "ValueError: refused") is False  # first refusal: a backoff
    assert queue.claim(5) == []  # not before the backoff (the lease is 30 s)
    _wait("the backoff to pass", lambda: bool(queue.claim(5)), 10.0)
    assert queue.fail(held, "ValueError: refused") is True  # second: set aside
    assert queue.depth() == 0 and queue.claim(5) == []
    (letter,) = queue.dead()
    assert letter.url == task["url"] and letter.attempts == 2 and "refused" in letter.error
    assert queue.replay() == 1 and queue.dead() == []
    (again,) = queue.claim(5)
    assert again.url == task["url"] and again.passwords == ["pw"]


@pytest.mark.redis
def test_media_workers_on_the_redis_stream(http: LoopbackHTTP, crawler, redis_prefix: str) -> None:
    """With Redis, the frontier and the media queue are shared: the same rows as alone."""
    images = {f"/img/{i}.png": synthetic_png(700 + i, size=48) for i in range(12)}
    for path, body in images.items():
        http.add(path, body, content_type="image/png")
    http.add("/", html(*(f'<img src="{p}">' for p in images)))
    store = crawler.store()
    known_bank(store, [images["/img/3.png"]])
    run = crawler.run(
        http.url("/"),
        "--media-workers",
        "1",
        "--redis-prefix",
        redis_prefix,
        ORBWEAVER_REDIS_URL=REDIS,
    )
    assert run.returncode == 0, run.stderr + run.log
    with store.session() as s:
        urls = sorted(s.scalars(sa.select(Sighting.url)))
        assert urls == sorted(http.url(p) for p in images)
        assert s.scalar(sa.select(sa.func.count()).select_from(Detection)) == 1
        assert s.scalar(sa.select(sa.func.count()).select_from(MediaTask)) == 0
    import redis

    server = redis.Redis.from_url(REDIS)
    assert server.exists(f"{redis_prefix}:media")  # the queue was the stream, now empty
    assert server.xlen(f"{redis_prefix}:media") == 0
    store.dispose()


def _gone(pid: int) -> bool:
    """Exited: no such process, or a zombie nobody has reaped yet."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


@pytest.mark.slow
def test_media_workers_exit_when_the_page_crawl_is_killed(http: LoopbackHTTP, crawler) -> None:
    """A `kill -9` of the crawl leaves no worker behind (they kept running, seen in CI): each
    notices its parent is gone, stops claiming and exits within its grace."""
    gate = threading.Event()

    def stalled(h: BaseHTTPRequestHandler) -> None:
        gate.wait(120)
        h.send_response(404)
        h.end_headers()

    for i in range(8):
        http.add(f"/img/{i}.png", handler=stalled)
    http.add("/more", handler=stalled)  # the page crawl is still running when it is killed
    links = [f'<img src="/img/{i}.png">' for i in range(8)] + ['<a href="/more">more</a>']
    http.add("/", html(*links))
    argv = crawler.command(
        "crawl", "--until-idle", "--no-progress", "--no-jobdir", "--log-file",
        str(crawler.tmp / "orphans.log"), "--media-workers", "2", http.url("/"),
    )  # fmt: skip
    proc = subprocess.Popen(
        argv, env=crawler.environ(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    workers: list[int] = []
    try:
        _wait(
            "the workers fetching", lambda: sum(http.hits.values()) >= 3 and http.hits.get("/more")
        )
        workers = _children(proc.pid)
        assert len(workers) == 2
        proc.kill()
        proc.wait()
        # the bound is generous (the grace is 10 s): what matters is that they go at all
        _wait("the orphaned workers to exit", lambda: all(_gone(p) for p in workers), 60.0)
    finally:
        gate.set()
        for pid in workers:
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_a_killed_page_crawler_loses_no_media_url(http: LoopbackHTTP, crawler) -> None:
    """`kill -9` of the page crawler while its workers fetch: the media URLs it handed over
    were committed with the page visit, so the next run's workers fetch what was left (its
    orphaned workers exit) and every picture is recorded once."""
    gate = threading.Event()
    images = {f"/img/{i}.png": synthetic_png(800 + i, size=48) for i in range(20)}

    def gated(body: bytes | None) -> Callable[[BaseHTTPRequestHandler], None]:
        def handle(h: BaseHTTPRequestHandler) -> None:
            gate.wait(120)
            h.send_response(200 if body else 404)
            h.send_header("Content-Type", "image/png")
            h.send_header("Content-Length", str(len(body or b"")))
            h.end_headers()
            h.wfile.write(body or b"")

        return handle

    for i, (path, body) in enumerate(images.items()):
        if i < 8:
            http.add(path, body, content_type="image/png")
        else:
            http.add(path, handler=gated(body))
    http.add("/more", handler=gated(None))  # the page crawl is mid-run when it is killed
    http.add("/", html(*(f'<img src="{p}">' for p in images), '<a href="/more">more</a>'))
    store = crawler.store()
    # a timeout longer than the test: the killed run's fetches are in flight, never failed
    env = crawler.environ(ORBWEAVER_CRAWL_MEDIA_LEASE_S="3", ORBWEAVER_CRAWL_TIMEOUT_S="300")
    argv = crawler.command(
        "crawl", "--until-idle", "--no-progress", "--no-jobdir", "--log-file",
        str(crawler.tmp / "killed.log"), "--media-workers", "1", "--per-host", "32",
        http.url("/"),
    )  # fmt: skip
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []

    def written() -> int:
        with store.session() as s:
            return int(s.scalar(sa.select(sa.func.count()).select_from(Sighting)) or 0)

    try:
        gated_paths = list(images)[8:]
        _wait("the worker fetching", lambda: any(http.hits.get(p) for p in gated_paths))
        _wait("the open pictures written", lambda: written() == 8)
        workers = _children(proc.pid)
        proc.kill()
        proc.wait()
        _wait("the orphaned worker to exit", lambda: all(_gone(p) for p in workers), 60.0)
        gate.set()
        run = crawler.run("--media-workers", "1", "--no-jobdir", ORBWEAVER_CRAWL_MEDIA_LEASE_S="3")
    finally:
        gate.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert run.returncode == 0, run.stderr + run.log
    with store.session() as s:
        urls = list(s.scalars(sa.select(Sighting.url)))
        assert sorted(urls) == sorted(http.url(p) for p in images)  # each once, none lost
        assert s.scalar(sa.select(sa.func.count()).select_from(MediaTask)) == 0
    assert all(http.hits[p] == 1 for p in list(images)[:8])  # what was written is not refetched
    store.dispose()
