"""The crawl's Redis scheduler through a Redis outage (no server: a frontier that fails on cue).

scrapy-redis's own scheduler lets a Redis error out of every call: a link yielded in the outage
is dropped, and the daemon's idle check (`OrbSpider._idle`, which schedules due re-crawls) meets
it, so Scrapy closes the spider as "finished" and the crawl role exits. The patient scheduler
holds what it is given, hands nothing out, counts as not empty, and pushes what it held, in order,
when Redis answers again. The whole role through real outages: tests/roles/test_crawl_outages.py.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import redis
import scrapy

from orbweaver.crawl.middlewares import PatientRedisScheduler


class Frontier:
    """The seen-set and the queue in one, failing with Redis's own error while `down`."""

    def __init__(self) -> None:
        self.down = False
        self.seen: set[str] = set()
        self.queued: list[str] = []
        self.fail_push_once = False

    def check(self) -> None:
        if self.down:
            raise redis.exceptions.ConnectionError("Error 111 connecting. Connection refused.")

    # dupefilter
    def request_seen(self, request: Any) -> bool:
        self.check()
        if request.url in self.seen:
            return True
        self.seen.add(request.url)
        return False

    def log(self, request: Any, spider: Any) -> None:
        pass

    # queue
    def push(self, request: Any) -> None:
        if self.fail_push_once:  # Redis went away between the seen mark and the push
            self.fail_push_once = False
            raise redis.exceptions.ConnectionError("Connection closed by server.")
        self.check()
        self.queued.append(request.url)

    def pop(self, timeout: int = 0) -> Any:
        self.check()
        return scrapy.Request(self.queued.pop(0)) if self.queued else None

    def __len__(self) -> int:
        self.check()
        return len(self.queued)


@pytest.fixture
def frontier() -> Frontier:
    return Frontier()


@pytest.fixture
def scheduler(frontier: Frontier) -> PatientRedisScheduler:
    sched = PatientRedisScheduler(server=None, persist=True)
    sched.queue, sched.df, sched.spider = frontier, frontier, None
    return sched


def back(scheduler: PatientRedisScheduler, frontier: Frontier) -> None:
    frontier.down = False
    scheduler._retry_at = 0.0  # the backoff has run out


def test_requests_given_in_an_outage_are_held_and_queued_in_order_after_it(
    scheduler: PatientRedisScheduler, frontier: Frontier, caplog: pytest.LogCaptureFixture
) -> None:
    scheduler.enqueue_request(scrapy.Request("http://a.test/1"))
    frontier.down = True
    with caplog.at_level(logging.WARNING, logger="orbweaver.crawl.middlewares"):
        for n in (2, 3, 4):
            assert scheduler.enqueue_request(scrapy.Request(f"http://a.test/{n}")) is True
        assert scheduler.next_request() is None  # nothing handed out: fetching pauses
        # not idle: the spider is not closed ("finished") in the outage
        assert scheduler.has_pending_requests() is True
    said = [r for r in caplog.records if "backing off" in r.getMessage()]
    assert len(said) == 1, caplog.text  # once, not once per call
    back(scheduler, frontier)
    urls = [scheduler.next_request().url for _ in range(4)]
    assert urls == [f"http://a.test/{n}" for n in (1, 2, 3, 4)]
    assert scheduler.next_request() is None and not scheduler.has_pending_requests()
    assert "resumed" in caplog.text


def test_a_request_marked_seen_before_the_push_failed_is_not_lost_as_its_own_duplicate(
    scheduler: PatientRedisScheduler, frontier: Frontier
) -> None:
    frontier.fail_push_once = True
    assert scheduler.enqueue_request(scrapy.Request("http://a.test/x")) is True
    assert frontier.seen == {"http://a.test/x"} and not frontier.queued
    back(scheduler, frontier)
    request = scheduler.next_request()
    assert request is not None and request.url == "http://a.test/x"
    # a later duplicate is still filtered
    assert scheduler.enqueue_request(scrapy.Request("http://a.test/x")) is False


def test_an_error_that_is_not_an_outage_is_raised(
    scheduler: PatientRedisScheduler, frontier: Frontier
) -> None:
    def broken(timeout: int = 0) -> Any:
        raise ValueError("a bug")

    frontier.pop = broken  # type: ignore[method-assign]
    with pytest.raises(ValueError):
        scheduler.next_request()
