"""While the store is down the store writer holds what it has: fetching is paused and an item
that would grow the buffer past a batch waits for the store instead (bounded memory)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from twisted.internet import defer

from orbweaver.clock import SystemClock
from orbweaver.crawl.items import MediaItem
from orbweaver.crawl.options import CrawlOptions
from orbweaver.crawl.pipelines import StoreWriterPipeline
from orbweaver.crawl.runtime import RUNTIME_SETTING, CrawlRuntime
from orbweaver.store import open_store


class Engine:
    paused = False

    def pause(self) -> None:
        self.paused = True

    def unpause(self) -> None:
        self.paused = False


class Stats(dict[str, Any]):
    def inc_value(self, key: str, count: int = 1) -> None:
        self[key] = self.get(key, 0) + count

    def set_value(self, key: str, value: Any) -> None:
        self[key] = value


class Crawler:
    def __init__(self, runtime: CrawlRuntime) -> None:
        self.settings = {RUNTIME_SETTING: runtime}
        self.engine = Engine()
        self.stats = Stats()


def item(i: int) -> MediaItem:
    return MediaItem(f"http://h.test/{i}.png", "h.test", None, "clear", False, b"x")


def test_items_wait_and_fetching_pauses_while_a_batch_is_kept(tmp_path: Path) -> None:
    options = CrawlOptions(flush_batch=10)
    runtime = CrawlRuntime(
        options=options,
        policy=None,  # type: ignore[arg-type]
        resolver=None,  # type: ignore[arg-type]
        store=open_store(f"sqlite:///{tmp_path / 'o.db'}"),
        clock=SystemClock(),
        suspect_key="",
    )
    crawler = Crawler(runtime)
    pipe = StoreWriterPipeline(crawler)
    pipe._draining = defer.Deferred()  # a batch the store did not take, being retried
    pipe._pause()
    assert crawler.engine.paused and crawler.stats["orbweaver/store_outages"] == 1

    results = [pipe.process_item(item(i)) for i in range(15)]
    assert results[:9] == [None] * 9
    waiting = results[9:]
    assert len(waiting) == 6 and all(asyncio.iscoroutine(w) for w in waiting)

    async def store_comes_back() -> None:
        tasks = [asyncio.ensure_future(w) for w in waiting]
        await asyncio.sleep(0.01)
        assert not any(t.done() for t in tasks)  # held while the store is down
        pipe._resume()
        await asyncio.wait_for(asyncio.gather(*tasks), 5)

    asyncio.run(store_comes_back())
    assert not crawler.engine.paused and not pipe.outage
    runtime.store.dispose()  # type: ignore[union-attr]


def test_the_suspect_limbo_is_capped_by_bytes_and_keeps_the_newest(tmp_path: Path) -> None:
    """Each waiting suspect holds its sealed bytes (up to a 64 MiB file): the byte budget, not
    only the count, bounds the memory they take."""
    import time

    from orbweaver.crawl.writer import _Pending

    options = CrawlOptions(suspect_limbo_max=100, suspect_limbo_max_bytes=10_000)
    runtime = CrawlRuntime(
        options=options,
        policy=None,  # type: ignore[arg-type]
        resolver=None,  # type: ignore[arg-type]
        store=open_store(f"sqlite:///{tmp_path / 'o.db'}"),
        clock=SystemClock(),
        suspect_key="",
    )
    crawler = Crawler(runtime)
    w = StoreWriterPipeline(crawler).writer
    now = time.monotonic()
    old = _Pending(now - 1000, {"h.test"}, 0, 0, b"x")  # waited past suspect_limbo_s
    w.limbo = [old] + [_Pending(now, {"h.test"}, i, i, b"s" * 3000) for i in range(1, 6)]
    w._expire_limbo()
    assert [p.sighting_id for p in w.limbo] == [3, 4, 5]  # 9,000 bytes: the newest that fit
    assert w.limbo_bytes == 9000
    assert crawler.stats["orbweaver/suspect_limbo_dropped"] == 2

    w.limbo.append(_Pending(now, {"h.test"}, 6, 6, b"s" * 20_000))  # alone over the budget
    w._expire_limbo()
    assert w.limbo == [] and w.limbo_bytes == 0

    w.options = CrawlOptions(suspect_limbo_max=2, suspect_limbo_max_bytes=10_000)
    w.limbo = [_Pending(now, {"h.test"}, i, i, b"s") for i in range(5)]
    w._expire_limbo()
    assert [p.sighting_id for p in w.limbo] == [3, 4]  # the count cap still holds
    runtime.store.dispose()  # type: ignore[union-attr]


def test_the_limbo_byte_budget_is_a_crawl_setting(monkeypatch: Any) -> None:
    from orbweaver.roles import ProductSettings, build_crawl_options

    monkeypatch.setenv("ORBWEAVER_CRAWL_SUSPECT_LIMBO_MAX_BYTES", "12345")
    assert build_crawl_options(ProductSettings.load()).suspect_limbo_max_bytes == 12345
