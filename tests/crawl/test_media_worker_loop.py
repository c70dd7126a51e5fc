"""Media workers (issue 15) run in-process against a scripted HTTP client: a batch the store
refuses is split, its poison entry retried with backoff and set aside as a dead letter (the rest
written), and the worker's loop waits instead of spinning while a write is in progress."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import sqlalchemy as sa
from loopback import synthetic_png

from orbweaver.clock import SystemClock
from orbweaver.crawl.media import MediaWorker
from orbweaver.crawl.mediaqueue import StoreMediaQueue
from orbweaver.crawl.options import CrawlOptions
from orbweaver.crawl.writer import SightingWriter
from orbweaver.net.fetch import Reply
from orbweaver.store import open_store
from orbweaver.store.models import MediaDeadLetter, MediaTask, Sighting


class ScriptedClient:
    """Answers every URL with a distinct small PNG; counts the fetches."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()

    async def get(self, url: str, kind: str = "media") -> Reply:
        self.hits[url] += 1
        seed = int(url.rsplit("/", 1)[1].split(".")[0].removeprefix("poison"))
        return Reply(
            url=url,
            status=200,
            headers=httpx.Headers({"content-type": "image/png"}),
            body=synthetic_png(900 + seed, size=32),
        )


def _worker(tmp_path: Path, urls: list[str], **options: Any) -> tuple[MediaWorker, Any]:
    store = open_store(f"sqlite:///{tmp_path / 'w.db'}")
    opts = CrawlOptions(
        unmatched="full", flush_interval_s=0.05, media_lease_s=60.0, media_in_flight=64,
        **options,
    )  # fmt: skip
    tasks = [
        {"url": u, "kind": "media", "page_url": None, "via_tor": False, "passwords": []}
        for u in urls
    ]
    SightingWriter(store, SystemClock(), opts, "", lambda k, n: None).write([], [], tasks)
    policy = SimpleNamespace(route=lambda url: ("clear", None))
    client = ScriptedClient()
    worker = MediaWorker(opts, policy, client, store, SystemClock(), "", "test")  # type: ignore[arg-type]
    return worker, client


def _run(worker: MediaWorker, stop: Any = lambda: False, timeout: float = 60.0) -> None:
    async def main() -> None:
        await asyncio.wait_for(worker.run(lambda: True, stop), timeout)

    asyncio.run(main())


def test_a_poison_entry_is_retried_with_backoff_then_set_aside_and_the_rest_written(
    tmp_path: Path,
) -> None:
    urls = [f"http://h.test/{i}.png" for i in range(6)] + ["http://h.test/poison7.png"]
    worker, client = _worker(
        tmp_path, urls, media_max_attempts=3, media_retry_base_s=0.2, flush_batch=100
    )
    write = worker.writer.write

    def refuses_poison(media: Any, *args: Any) -> None:
        if any("poison" in item.url for item in media):
            raise ValueError("a row the database will not take")
        write(media, *args)

    worker.writer.write = refuses_poison  # type: ignore[method-assign]
    started = time.monotonic()
    _run(worker)  # without a dead letter, the poison entry kept the queue from ever emptying
    elapsed = time.monotonic() - started
    store = worker.store
    with store.session() as s:
        written = sorted(s.scalars(sa.select(Sighting.url)))
        assert written == sorted(urls[:6])  # nothing else lost
        assert s.scalar(sa.select(sa.func.count()).select_from(MediaTask)) == 0
        (letter,) = s.scalars(sa.select(MediaDeadLetter)).all()
        assert letter.url == urls[6] and letter.attempts == 3
        assert "will not take" in (letter.error or "")
    assert client.hits[urls[6]] == 3  # tried exactly max_attempts times, not forever
    assert all(client.hits[u] == 1 for u in urls[:6])
    assert elapsed >= 0.2 + 0.4  # the retries waited their backoff (0.2 s, then 0.4 s)
    assert worker.stats["media_dead_lettered"] == 1
    # replayed: back on the queue, attempts cleared, the dead letter gone
    queue = StoreMediaQueue(store, "cli")
    assert [d.url for d in queue.dead()] == [urls[6]]
    assert queue.replay() == 1
    assert queue.dead() == [] and queue.depth() == 1
    with store.session() as s:
        assert s.scalars(sa.select(MediaTask.attempts)).all() == [0]
    store.dispose()


def test_the_loop_waits_for_a_slow_write_instead_of_spinning(tmp_path: Path) -> None:
    worker, _client = _worker(tmp_path, ["http://h.test/1.png"], flush_batch=100)
    write = worker.writer.write

    def slow(*args: Any) -> None:
        time.sleep(1.0)  # a slow store: the loop has nothing else to do meanwhile
        write(*args)

    worker.writer.write = slow  # type: ignore[method-assign]
    turns = 0

    def stop() -> bool:  # asked once per turn of the loop
        nonlocal turns
        turns += 1
        return False

    _run(worker, stop)
    with worker.store.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Sighting)) == 1
    # a few turns a second (a wait of 0.25 s at most each); it spun thousands of times before
    assert turns < 200, turns
    worker.store.dispose()


def test_host_of_agrees_with_urlsplit() -> None:
    from urllib.parse import urlsplit

    from orbweaver.crawl.media import host_of

    for url in [
        "http://Site.Test/a.jpg",
        "https://site.test:8443/i/1.jpg?x=1",
        "http://127.0.0.1:5000",
        "http://user:pw@evil.test/x",
        "http://[::1]:80/x",
        "HTTP://Upper.Test/x",
        "http://site.test#frag",
        "http://xn--bcher-kva.test/\u00e9",
    ]:
        assert host_of(url) == (urlsplit(url).hostname or "").lower(), url
