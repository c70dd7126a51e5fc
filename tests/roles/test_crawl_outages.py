"""The crawl role through Redis and PostgreSQL outages: it backs off, says so once, resumes, and
neither exits nor loses a page or a sighting.

`orbweaver run --roles crawl` on a PostgreSQL and a Redis of the test's own, the small world:
once without faults, once with Redis stopped for a few seconds in the middle of the first crawl,
PostgreSQL stopped in the middle of it too, and Redis stopped again while the crawl is idle and
re-crawls fall due. Before the fix, scrapy-redis let the Redis error out of the scheduler: the
links a page yielded during the outage were dropped, and an idle check that met the outage
either closed the spider ("finished": the role exited, three times in the fault campaign) or
stopped Scrapy's heartbeat, so due re-crawls were never picked up again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from faults.campaign import PrivateRedis, Run, Service, private_servers
from orbweaver.store.models import CrawlPage, Sighting
from roles.world import wait_for
from supervise.private_pg import PrivatePostgres

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SEED, SCALE = 3, 0.5
REDIS_DOWN_S, PG_DOWN_S = 6.0, 6.0


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[PrivatePostgres, PrivateRedis]]:
    with private_servers() as servers:
        yield servers


@dataclass
class Outcome:
    first_pages: set[str]  # after the first crawl, before any re-crawl could find them again
    first_sightings: set[str]
    pages: set[str]
    sightings: set[str]
    recrawled: int  # pages whose re-crawl, due after the clock moved, was done
    restarts: int
    log: str


def settle_crawl(run: Run, quiet_s: float = 9.0, timeout_s: float = 300.0) -> None:
    """Until the shared queue is empty and the store's counts stay unchanged for `quiet_s`
    (longer than Scrapy's 5 s idle check, where the daemon picks up due re-crawls)."""
    deadline = time.monotonic() + timeout_s
    last, quiet_since = None, time.monotonic()
    while time.monotonic() - quiet_since < quiet_s:
        assert time.monotonic() < deadline, run.svc.log_tail() if run.svc else ""
        time.sleep(0.5)
        try:
            counts = (run._counts(), run.redis.queued(run.prefix))
        except Exception:
            last, quiet_since = None, time.monotonic()
            continue
        if counts != last or counts[1]:
            last, quiet_since = counts, time.monotonic()


def recorded(run: Run) -> tuple[set[str], set[str]]:
    with run.store.session() as s:
        return set(s.scalars(sa.select(CrawlPage.url))), set(s.scalars(sa.select(Sighting.url)))


def crawl(tmp: Path, servers: tuple[PrivatePostgres, PrivateRedis], faults: bool) -> Outcome:
    pg, redis = servers
    name = "faulted" if faults else "base"
    run = Run(tmp / name, pg, redis, name=name, seed=SEED, scale=SCALE, days=3, crawl_every_days=2)
    try:
        run.svc = Service(run.env(), run.work, "--roles", "crawl")
        wait_for("the crawl's first page", lambda: run._counts()[0] > 0, 180)
        if faults:  # in the middle of the first crawl
            redis.stop()
            time.sleep(REDIS_DOWN_S)
            redis.start()
            time.sleep(2.0)
            pg.stop()
            time.sleep(PG_DOWN_S)
            pg.start()
        settle_crawl(run)
        first_pages, first_sightings = recorded(run)
        moved_to = run.now() + timedelta(days=2)  # every page's re-crawl falls due
        run.world.clock.set(moved_to)
        if faults:  # the idle daemon meets the outage when it looks for due re-crawls
            redis.stop()
            time.sleep(2 * REDIS_DOWN_S)
            redis.start()
        settle_crawl(run)
        pages, sightings = recorded(run)
        with run.store.session() as s:
            recrawled = int(
                s.scalar(sa.select(sa.func.count()).where(CrawlPage.next_crawl_at > moved_to)) or 0
            )
        restarts = int(run.svc.roles()["crawl"]["restarts"])
        return Outcome(
            first_pages,
            first_sightings,
            pages,
            sightings,
            recrawled,
            restarts,
            run.svc.log_tail(200_000),
        )
    finally:
        run.close()
        pg.ensure_up()
        if not redis.ping():
            redis.start()


def test_the_crawl_role_waits_out_redis_and_postgres_outages(
    tmp_path: Path, servers: tuple[PrivatePostgres, PrivateRedis]
) -> None:
    base = crawl(tmp_path, servers, faults=False)
    assert base.pages and base.sightings and base.recrawled, base.log[-4000:]
    faulted = crawl(tmp_path, servers, faults=True)
    tail = faulted.log[-6000:]
    assert faulted.restarts == 0, tail  # it never exited
    lost = sorted(base.first_pages - faulted.first_pages)  # links dropped in the outage
    assert not lost, (lost, tail)
    assert base.first_sightings <= faulted.first_sightings, tail
    assert base.pages <= faulted.pages, (sorted(base.pages - faulted.pages), tail)
    assert base.sightings <= faulted.sightings, (sorted(base.sightings - faulted.sightings), tail)
    assert faulted.recrawled >= base.recrawled, (faulted.recrawled, base.recrawled, tail)
    # said once per outage (two Redis outages), not once per call
    outages = faulted.log.count("Redis frontier (requests held, fetching paused): ConnectionError")
    assert 1 <= outages <= 2, tail
    assert "Traceback" not in faulted.log, tail
