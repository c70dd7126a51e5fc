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
