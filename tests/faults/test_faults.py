"""The fault campaign, short: a small world, every role as its own process (`orbweaver run`) on
a PostgreSQL and a Redis of the test's own; one fault-free run, then the same world and seed
again with every kind of fault: each role SIGKILLed at a seeded instant (the crawl and the
notifier inside the first crawl and the first notices), PostgreSQL stopped and restarted, Redis
restarted, the world's SMTP sink and webhooks down for 6 simulated hours (from the start: every
first notice waits it out) and its DNS down for 1 simulated hour. After it all has settled,
nothing the fault-free run had is missing (see `campaign.compare`). The longer campaign, with
more of each, is `benchmarks/bench_faults.py`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from faults.campaign import (
    KINDS,
    ROLES,
    PrivateRedis,
    Run,
    RunResult,
    compare,
    plan_faults,
    private_servers,
)
from supervise.private_pg import PrivatePostgres

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.timeout(900)]

SEED, SCALE, DAYS, CRAWL_EVERY = 3, 0.5, 3.0, 2.0


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[PrivatePostgres, PrivateRedis]]:
    with private_servers() as servers:
        yield servers


def one_run(
    tmp: Path, servers: tuple[PrivatePostgres, PrivateRedis], name: str, faults: list
) -> RunResult:
    pg, redis = servers
    run = Run(
        tmp / name,
        pg,
        redis,
        name=name,
        seed=SEED,
        scale=SCALE,
        days=DAYS,
        crawl_every_days=CRAWL_EVERY,
    )
    try:
        run.drive(faults)
        return run.result(faults)
    finally:
        run.close()
        pg.ensure_up()
        if not redis.ping():
            redis.start()


@pytest.fixture(scope="module")
def baseline(
    tmp_path_factory: pytest.TempPathFactory, servers: tuple[PrivatePostgres, PrivateRedis]
) -> RunResult:
    return one_run(tmp_path_factory.mktemp("base"), servers, "base", [])


def test_every_kind_of_fault_loses_nothing(
    tmp_path: Path, servers: tuple[PrivatePostgres, PrivateRedis], baseline: RunResult
) -> None:
    assert baseline.sightings and baseline.noticed, baseline.log_tail
    assert sum(baseline.received.values()) >= len(baseline.noticed)
    faults = plan_faults(SEED, DAYS, pg_down_s=6.0)
    faulted = one_run(tmp_path, servers, "faulted", faults)
    assert {f.kind for f in faults if f.injected} == set(KINDS)
    assert {f.role for f in faults if f.kind == "sigkill" and f.injected} == set(ROLES)
    for role in ROLES:  # each role died once and was restarted by the supervisor
        assert faulted.restarts[role] >= 1, (role, faulted.restarts)
    assert faulted.refused["smtp"] + faulted.refused["webhooks"] >= 1  # notices met the outage
    assert faulted.refused["dns"] >= 1 and faulted.unknown_checks >= 1  # so did re-checks
    result = compare(baseline, faulted)
    assert result.ok, (result.summary(), result.lost_sightings, result.lost_notices)
