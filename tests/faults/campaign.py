"""The fault campaign's harness: a small simulated world, every role of `orbweaver run` as its
own process on a PostgreSQL and a Redis of the campaign's own, time driven step by step, faults
injected at chosen (seeded) moments, and the outcome compared with a fault-free run of the same
world and seed. Used by `tests/faults` (short) and `benchmarks/bench_faults.py` (long).

How time moves: every role follows the world's clock over HTTP (`ORBWEAVER_CLOCK_URL`). The
driver freezes the world at one instant, waits until the roles have *settled* there (nothing due
in any queue they drain, the crawl's Redis queue empty, the store's counts unchanged for a few
polls), then jumps to the next due event (a re-check, a follow-up, a retry, a re-crawl, a fault's
start or end), never more than `max_step` ahead. So a role killed and restarted, or a database
stopped for real seconds, is a pause at one world instant; an SMTP or DNS outage lasts its
simulated hours while the clock moves through them.

What is compared with the fault-free run (see `compare`):
- sightings: every URL the fault-free run sighted that the faulted world also placed (re-upload
  URLs depend on the order notices arrive, so a re-upload of the one world may not exist in the
  other) is sighted;
- notices: every URL noticed in the fault-free run and sighted in the faulted one is noticed;
  no notice and no outbox row is left failed;
- duplicates: a report (report_id, round) received twice by the world only where the product
  logged a message in doubt (`outbox.uncertain_resend`), and never three times;
- Table 1.0: per provider, targeted equal and median/p90 removal days within the re-check
  precision (the longest gap of the cadence).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from orbweaver.clock import ensure_utc
from orbweaver.sim.scenario import SCENARIO_DIR
from orbweaver.store import Store, open_store
from orbweaver.store.models import (
    AttributionCache,
    Check,
    CrawlPage,
    Detection,
    Event,
    Notice,
    Outbox,
    Sighting,
)
from roles.world import Service as RoleService
from roles.world import role_env, wait_for
from supervise.private_pg import PrivatePostgres
from takedown.helpers import free_port

SMALL = SCENARIO_DIR / "small.toml"
ROLES = ("crawl", "notify", "monitor", "review-sync", "serve")
KINDS = ("sigkill", "postgres", "redis", "smtp", "dns")
# The re-check cadence of the campaign: its longest gap is the precision of removal times.
SCHEDULE_HOURS = (1.0, 6.0, 24.0)
EVERY_HOURS = 24.0
PRECISION_DAYS = max(EVERY_HOURS, *(b - a for a, b in itertools.pairwise(SCHEDULE_HOURS))) / 24


# -- the private servers -----------------------------------------------------------------------


class PrivateRedis:
    """redis-server on a free loopback port, its RDB in a temporary folder: a restart (SIGTERM,
    which saves, then start) keeps what a restarted production Redis keeps."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="orbweaver-redis-"))
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.root),
                "--save",
                "3600 1",
                "--appendonly",
                "no",
                "--logfile",
                str(self.root / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for("redis up", self.ping, 30)

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.exceptions.RedisError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def queued(self, prefix: str) -> int:
        """Requests waiting in the crawl's shared Scrapy queue."""
        import redis

        client = redis.Redis(port=self.port, socket_timeout=2)
        total = 0
        for key in client.scan_iter(f"{prefix}*requests*"):
            kind = client.type(key)
            total += int(client.zcard(key) if kind == b"zset" else client.llen(key))
        return total

    def close(self) -> None:
        self.stop()
        import shutil

        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def private_servers() -> Iterator[tuple[PrivatePostgres, PrivateRedis]]:
    """A private PostgreSQL and Redis for a module of tests that stop and restart them (the
    machine's shared servers are never touched), closed however the tests end."""
    pg, redis = PrivatePostgres(), PrivateRedis()
    try:
        pg.start()
        redis.start()
        yield pg, redis
    finally:
        redis.close()
        pg.close()


class Service(RoleService):
    """`orbweaver run`, its log without the per-request lines of httpx (the clock's)."""

    def log_tail(self, chars: int = 6000) -> str:
        lines = [line for line in self.lines if "httpx: HTTP Request" not in line]
        return "".join(lines)[-chars:]


# -- faults ------------------------------------------------------------------------------------


@dataclass
class Fault:
    """One fault: `kind` at world offset `at_h` hours (for sigkill: `role`, after `delay_s`
    real seconds of the step's work)."""

    kind: str
    at_h: float
    role: str = ""
    delay_s: float = 0.0
    hours: float = 0.0  # smtp, dns: simulated duration
    down_s: float = 0.0  # postgres: real seconds stopped
    injected: bool = False
    note: str = ""


def plan_faults(
    seed: int,
    days: float,
    kills_per_role: int = 1,
    postgres: int = 1,
    redis: int = 1,
    smtp: int = 1,
    dns: int = 1,
    pg_down_s: float = 8.0,
) -> list[Fault]:
    """A seeded schedule: kills of each role at random instants (some in the first crawl and
    the first notices, where there is most work), the others spread over the run."""
    rng = random.Random(seed)
    hours = days * 24
    faults: list[Fault] = []
    for role in ROLES:
        for k in range(kills_per_role):
            at = 0.0 if k == 0 and role in ("crawl", "notify") else rng.uniform(0, hours * 0.8)
            faults.append(Fault("sigkill", at, role=role, delay_s=rng.uniform(0.2, 2.5)))
    for _ in range(postgres):
        faults.append(Fault("postgres", rng.uniform(0, hours * 0.8), down_s=pg_down_s))
    for _ in range(redis):
        faults.append(Fault("redis", rng.uniform(0, hours * 0.8), delay_s=rng.uniform(0, 1.0)))
    for i in range(smtp):
        # the first outage at the start: every first notice waits it out
        at = 0.0 if i == 0 else rng.uniform(24, hours * 0.7)
        faults.append(Fault("smtp", at, hours=6.0))
    for i in range(dns):
        # the first one over the +24 h re-check of the first notices (sent when the SMTP
        # outage ends, 6 h in): re-checks meet the outage; the others anywhere
        at = 29.5 if i == 0 else rng.uniform(24, hours * 0.8)
        faults.append(Fault("dns", at, hours=1.0))
    return sorted(faults, key=lambda f: f.at_h)


# -- one run -----------------------------------------------------------------------------------


@dataclass
class RunResult:
    sightings: set[str]
    noticed: set[str]
    failed_notices: int
    failed_outbox: int
    received: Counter[tuple[str, int, bool]]
    in_doubt: int
    table: dict[str, dict[str, Any]]
    placements: set[str]
    faults: list[Fault] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    restarts: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)  # requests the world's faults failed
    unknown_checks: int = 0  # re-checks that met the DNS outage
    recrawls_overdue: int = 0  # pages whose re-crawl time passed long ago (see `_busy`)
    log_tail: str = ""


def quiet_decision(quiet_since: float | None, now: float, window: float) -> tuple[bool, float]:
    """`(settled, seconds to sleep before the next poll)` for `Run.settle`: settled once the
    counts have been seen unchanged (and nothing due) for `window` seconds; otherwise poll again
    in a second while the roles work, or when the window would end if quiet already."""
    if quiet_since is None:
        return False, 1.0
    left = window - (now - quiet_since)
    if left <= 0:
        return True, 0.0
    return False, max(0.05, min(1.0, left))


class DriveStopped(Exception):
    """`Run.settle` gave up waiting: the run's wall-clock deadline passed, or a stop was asked
    (a signal), in the middle of a wait. The instant is left unsettled and the drive ends."""


class Run:
    """One world, one store, `orbweaver run` with every role; `drive` to the end."""

    def __init__(
        self,
        work: Path,
        pg: PrivatePostgres,
        redis: PrivateRedis,
        *,
        name: str,
        seed: int,
        scale: float,
        days: float,
        crawl_every_days: float,
        max_step_h: float = 12.0,
        min_step_m: float = 0.0,
        scenario: Path = SMALL,
        settle_timeout_s: float = 240.0,
        quiet_s: float = 2.0,
        recrawl_quiet_s: float = 8.0,
        stall_s: float | None = None,
    ) -> None:
        from orbweaver.sim import World

        self.work, self.pg, self.redis = work, pg, redis
        self.days, self.max_step = days, timedelta(hours=max_step_h)
        # events due within `min_step` of the next one are settled together at the later
        # instant (0, the default: each alone)
        self.min_step = timedelta(minutes=min_step_m)
        self.crawl_every_days = crawl_every_days
        self.work.mkdir(parents=True, exist_ok=True)
        self.url = _database(pg, name)
        self.prefix = f"orbweaver:{name}"
        self.world = World.start(scenario, scale=scale, seed=seed)
        self.store = open_store(self.url)
        self._prepare()
        self.svc: Service | None = None
        self.steps = 0
        self.settle_timeout_s = settle_timeout_s
        # how long the store's counts must stay unchanged, with nothing due, to call an instant
        # settled: `recrawl_quiet_s` when re-crawls fell due since the last instant
        self.quiet_s, self.recrawl_quiet_s = quiet_s, recrawl_quiet_s
        # `stall_s` (None: wait up to the timeout, the campaign's way): work that stays due
        # while nothing at all changes (counts and the busy queues as they are) for this long
        # is no longer waited for; the instant counts as settled, the stall is kept in `stalls`
        self.stall_s = stall_s
        self.due_now: tuple[int, ...] = ()  # the items due per queue at the last `_busy`
        self.stalls: list[tuple[datetime, list[str]]] = []
        # a wait's limits besides the timeout: a wall-clock deadline (`time.monotonic()`) and a
        # stop asked from outside (bench_soak's SIGINT/SIGTERM handler); `drive` ends on either
        self.deadline: float | None = None
        self.stop_requested = threading.Event()
        self.stopped: str | None = None  # why `drive` ended before the end of the days
        # where the driver's wall clock goes (bench_soak reports it): the roles' work until
        # the last change seen, the quiet window after it, the driver's own queries
        self.timing: defaultdict[str, float] = defaultdict(float)

    # setup

    def _prepare(self) -> None:
        from orbweaver.banks import create_bank, import_csv
        from orbweaver.clock import SettableClock
        from orbweaver.crawl.frontier import add_seeds

        info = self.world.info
        clock = SettableClock(self.world.clock.now())
        create_bank(self.store, clock, "known")
        with open(info["known_hashes_csv"]) as f:
            import_csv(self.store, clock, "known", f)
        add_seeds(self.store, clock, list(info["seeds"]))
        (self.work / "providers.json").write_text(json.dumps(info["providers"]))

    def env(self) -> dict[str, str]:
        from orbweaver.demo.run import settings_env, world_settings
        from orbweaver.store.vault import new_key

        info = self.world.info
        core = world_settings(info, self.url, self.work / "var", new_key())
        host, port = info["smtp"].rsplit(":", 1)
        env = role_env(
            self.url,
            str(self.work / "var"),
            notify_every_s=0.3,
            monitor_every_s=0.3,
            review_sync_every_s=0.5,
            restart_backoff_s=0.2,
            restart_backoff_max_s=2.0,
            restart_alert_after=50,
            stop_timeout_s=30,
            delivery_lease_s=120,
            crawl_concurrency=8,
            crawl_per_host=4,
            crawl_timeout_s=10,
            crawl_max_media_per_page=200,
            crawl_recrawl_every_s=int(self.crawl_every_days * 86400 - 3600),
            crawl_redis_prefix=self.prefix,
            smtp_host=host,
            smtp_port=port,
            smtp_timeout_s=5,
            webhook_timeout_s=5,
            notice_from="notices@hotline.test",
            notice_org="orbweaver fault campaign",
            notice_domain="hotline.test",
            followup_interval_hours=24,
            escalate_after_rounds=3,
            rdap_bootstrap_url=info["rdap_bootstrap"],
            providers_file=str(self.work / "providers.json"),
            attribution_cache_ttl_s=7 * 86400,
            recheck_schedule_hours=",".join(f"{h:g}" for h in SCHEDULE_HOURS),
            recheck_every_hours=EVERY_HOURS,
            offline_confirm_misses=2,
            offline_confirm_spacing_minutes=5,
        )
        env.update(settings_env(core))
        env["ORBWEAVER_REDIS_URL"] = self.redis.url
        env["ORBWEAVER_DATABASE_URL"] = self.url
        env["ORBWEAVER_DNS_CACHE_TTL_S"] = "0"
        return env

    # time

    def now(self) -> datetime:
        return ensure_utc(self.world.clock.now()).replace(tzinfo=None)

    def _counts(self) -> tuple[int, ...]:
        # one statement, one round trip: the driver polls this while the roles work
        counts = [
            sa.select(sa.func.count()).select_from(t).scalar_subquery()
            for t in (CrawlPage, Sighting, Detection, Notice, Outbox, Event)
        ]
        counts.append(sa.select(sa.func.count()).where(Outbox.status == "sent").scalar_subquery())
        with self.store.session() as s:
            return tuple(int(n or 0) for n in s.execute(sa.select(*counts)).one())

    def _busy(self) -> list[str]:
        """Queues with work due now. Re-crawls are left out: a page that no longer links media
        (its picture removed) keeps its old re-crawl time, due for ever (see `settle`)."""
        from orbweaver.ops import QueueCollector

        names = ("outbox", "rechecks", "followups", "suspects", "crawl_seeds")
        states = QueueCollector(self.store, self.world.clock, names).read()
        busy = [name for name, state in states.items() if state.due]
        queued = self.redis.queued(self.prefix)
        if queued:
            busy.append("crawl_queue")
        # how much is due in each (for `settle`'s stall rule: a queue that drains is moving)
        self.due_now = (*(state.due for state in states.values()), queued)
        return busy

    def _recrawls_due_since(self, since: datetime | None) -> int:
        if since is None:
            return 0
        with self.store.session() as s:
            return int(
                s.scalar(
                    sa.select(sa.func.count()).where(
                        CrawlPage.next_crawl_at > since, CrawlPage.next_crawl_at <= self.now()
                    )
                )
                or 0
            )

    def settle(self, since: datetime | None = None, timeout: float | None = None) -> None:
        """Wait until the roles have done everything due at this world instant: nothing due in
        the queues they drain, the crawl's Redis queue empty, the store's counts unchanged for
        a while: `quiet_s` (2 s), or `recrawl_quiet_s` (8 s) when re-crawls fell due since
        `since` (the crawl daemon looks for due pages when Scrapy is idle, every 5 s) and are
        not all re-crawled yet.

        The counts are read as soon as the step starts, and the quiet window is measured from
        the first poll that saw the counts as they now are (not from the second), so a step
        where nothing happens costs the window and a poll, not two extra polls' sleeps.

        Work due that nothing moves (no count changes, as much due per queue) for `stall_s`, when
        set, ends the wait as a stall (kept in `stalls`), not at the timeout an hour later. The
        run's `deadline` and `stop_requested` end the wait too, by raising `DriveStopped`."""
        began = time.monotonic()
        window = self.recrawl_quiet_s if self._recrawls_due_since(since) else self.quiet_s
        self.timing["windows_long" if window > self.quiet_s else "windows_short"] += 1
        deadline = time.monotonic() + (timeout or self.settle_timeout_s)
        last: tuple[int, ...] | None = None
        quiet_since: float | None = None  # when the counts were first seen as they are now
        # when the counts and what is due were first seen as they are now, busy or not
        # (for `stall_s`: due work nobody touches does not hold the instant for ever)
        seen: tuple[tuple[int, ...], tuple[str, ...], tuple[int, ...]] | None = None
        unchanged_since: float | None = None
        settled = False
        while not settled:
            if self.stop_requested.is_set():
                raise DriveStopped("a stop was asked while the instant settled")
            if self.deadline is not None and time.monotonic() > self.deadline:
                raise DriveStopped("the wall-clock limit passed while the instant settled")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"did not settle at {self.now()} (busy: {self._safe_busy()})\n"
                    + (self.svc.log_tail() if self.svc else "")
                )
            asked = time.monotonic()
            try:
                counts, busy = self._counts(), self._busy()
                if window > self.quiet_s and not self._recrawls_due_since(since):
                    # every page that fell due has been re-crawled (its next time moved on):
                    # the crawl has acted, so the short window is enough for what follows
                    window = self.quiet_s
            except sa.exc.OperationalError:
                last, quiet_since, seen, unchanged_since = None, None, None, None
                time.sleep(1.0)
                continue
            finally:
                self.timing["queries"] += time.monotonic() - asked
            state = (counts, tuple(busy), self.due_now)
            if state != seen:
                seen, unchanged_since = state, asked
            if busy:
                quiet_since = None
            elif counts != last or quiet_since is None:
                quiet_since = asked
            settled, pause = quiet_decision(quiet_since, time.monotonic(), window)
            last = counts
            if (
                not settled
                and busy
                and self.stall_s is not None
                and unchanged_since is not None
                and time.monotonic() - unchanged_since >= self.stall_s
            ):
                # due work that no role has moved (no count changed, as much due in each queue)
                # for `stall_s`: keep it as a stall and go on rather than hold the instant
                self.stalls.append((self.now(), list(busy)))
                self.timing["stalled"] += 1
                quiet_since, settled = unchanged_since, True
            # while the roles work, poll every second (the driver's queries take CPU from
            # them); once quiet, sleep until the window would end, so it ends on time
            if not settled:
                time.sleep(pause)
        assert quiet_since is not None
        self.timing["work"] += quiet_since - began
        self.timing["quiet"] += time.monotonic() - quiet_since

    def _safe_busy(self) -> list[str] | str:
        try:
            return self._busy()
        except Exception as exc:
            return repr(exc)

    def next_due(self) -> datetime | None:
        now = self.now()
        with self.store.session() as s:
            times = [
                s.scalar(
                    sa.select(sa.func.min(Notice.next_check_at)).where(Notice.status == "open")
                ),
                s.scalar(
                    sa.select(sa.func.min(Notice.next_followup_at)).where(
                        Notice.status == "open", Notice.miss_count == 0
                    )
                ),
                s.scalar(
                    sa.select(sa.func.min(Outbox.next_attempt_at)).where(
                        Outbox.status.in_(("pending", "claimed", "sending"))
                    )
                ),
                s.scalar(sa.select(sa.func.min(CrawlPage.next_crawl_at))),
                s.scalar(
                    sa.select(sa.func.min(AttributionCache.expires_at)).where(
                        AttributionCache.error.is_not(None)
                    )
                ),
            ]
        due = [t for t in times if t is not None and t > now]
        return min(due) if due else None

    # faults

    def pid(self, role: str) -> int | None:
        assert self.svc is not None
        pid = self.svc.roles().get(role, {}).get("pid")
        return int(pid) if pid else None

    def inject(self, fault: Fault) -> None:
        """Apply `fault` now (the step's work has just been set off)."""
        if fault.kind == "sigkill":
            time.sleep(fault.delay_s)
            wait_for(f"{fault.role} up", lambda: self.pid(fault.role) is not None, 120)
            pid = self.pid(fault.role)
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            fault.note = f"pid {pid}"
            wait_for(
                f"{fault.role} restarted", lambda: self.pid(fault.role) not in (None, pid), 120
            )
        elif fault.kind == "postgres":
            self.pg.stop()
            time.sleep(fault.down_s)
            self.pg.start()
        elif fault.kind == "redis":
            time.sleep(fault.delay_s)
            self.redis.restart()
        elif fault.kind == "smtp":
            self.world.faults.down("smtp", timedelta(hours=fault.hours))
            self.world.faults.down("webhooks", timedelta(hours=fault.hours))
        elif fault.kind == "dns":
            self.world.faults.down("dns", timedelta(hours=fault.hours))
        fault.injected = True

    def drive(
        self,
        faults: list[Fault],
        progress: Callable[[str], None] | None = None,
        on_step: Callable[[Run], None] | None = None,
        wall_limit_s: float | None = None,
    ) -> None:
        """Start every role, move the world to the end, injecting `faults` on the way."""
        started = time.monotonic()
        # the limit also holds inside a settle wait (which may last `settle_timeout_s`)
        self.deadline = started + wall_limit_s if wall_limit_s is not None else None
        start = self.now()
        end = start + timedelta(days=self.days)
        ends: list[datetime] = []  # outages' ends are due events too
        self.svc = Service(self.env(), self.work, "--roles", ",".join(ROLES))
        wait_for(
            "every role started",
            lambda: (
                len(self.svc.roles()) == len(ROLES)  # type: ignore[union-attr]
                and all(r["pid"] for r in self.svc.roles().values())
            ),  # type: ignore[union-attr]
            120,
        )
        pending = sorted(faults, key=lambda f: f.at_h)
        previous: datetime | None = None
        while True:
            now = self.now()
            due_faults = [f for f in pending if start + timedelta(hours=f.at_h) <= now]
            for fault in due_faults:
                pending.remove(fault)
                self.inject(fault)
                if fault.hours:
                    ends.append(now + timedelta(hours=fault.hours))
                if progress:
                    progress(f"{now} {fault.kind} {fault.role} {fault.note}".rstrip())
            try:
                self.settle(previous)
            except DriveStopped as stop:
                self.stopped = f"{stop} at {now} (unsettled)"
                break
            previous = now
            self.steps += 1
            if on_step is not None:
                sampled = time.monotonic()
                on_step(self)
                self.timing["on_step"] += time.monotonic() - sampled
            if now >= end:
                break
            if wall_limit_s is not None and time.monotonic() - started > wall_limit_s:
                self.stopped = f"the wall-clock limit passed; stopped settled at {now}"
                break  # a time-boxed soak: stops settled, at a world instant
            if self.stop_requested.is_set():
                self.stopped = f"a stop was asked; stopped settled at {now}"
                break
            targets = [now + self.max_step, end]
            targets += [start + timedelta(hours=f.at_h) for f in pending]
            targets += [t for t in ends if t > now]
            asked = time.monotonic()
            due = self.next_due()
            self.timing["next_due"] += time.monotonic() - asked
            if due is not None:
                targets.append(due)
            target = max(min(targets), now + max(self.min_step, timedelta(seconds=1)))
            target = min(target, end) if now < end else target
            self.world.clock.set(target)
        self.seconds = time.monotonic() - started

    # outcome

    def result(self, faults: list[Fault]) -> RunResult:
        assert self.svc is not None
        restarts = {name: int(r.get("restarts", 0)) for name, r in self.svc.roles().items()}
        with self.store.session() as s:
            sightings = set(s.scalars(sa.select(Sighting.url)))
            sightings |= set(u for u in s.scalars(sa.select(Sighting.archive_url)) if u is not None)
            noticed = set(s.scalars(sa.select(Notice.url)))
            failed_notices = int(
                s.scalar(sa.select(sa.func.count()).where(Notice.status == "failed")) or 0
            )
            failed_outbox = int(
                s.scalar(sa.select(sa.func.count()).where(Outbox.status == "failed")) or 0
            )
            unknown_checks = int(
                s.scalar(sa.select(sa.func.count()).where(Check.outcome == "unknown")) or 0
            )
            overdue = int(
                s.scalar(
                    sa.select(sa.func.count()).where(
                        CrawlPage.next_crawl_at < self.now() - timedelta(days=1)
                    )
                )
                or 0
            )
            in_doubt = int(
                s.scalar(sa.select(sa.func.count()).where(Event.kind == "outbox.uncertain_resend"))
                or 0
            )
        received = Counter(
            (n.report_id, n.round, n.escalation) for n in self.world.engine.ledger.notices
        )
        placements = {
            p["url"]
            for image in self.world.truth(images=True)["images"]
            for p in image["placements"]
        }
        return RunResult(
            sightings=sightings,
            noticed=noticed,
            failed_notices=failed_notices,
            failed_outbox=failed_outbox,
            received=received,
            in_doubt=in_doubt,
            table=table_1_0(self.store),
            placements=placements,
            faults=faults,
            steps=self.steps,
            seconds=self.seconds,
            restarts=restarts,
            refused=dict(self.world.faults.state()["refused"]),
            unknown_checks=unknown_checks,
            recrawls_overdue=overdue,
            log_tail=self.svc.log_tail(),
        )

    def close(self) -> None:
        if self.svc is not None:
            with contextlib.suppress(Exception):  # killed below
                self.svc.stop(60)
            self.svc.kill()
        self.store.dispose()
        self.world.stop()


def _database(pg: PrivatePostgres, name: str) -> str:
    admin = sa.create_engine(pg.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return sa.engine.make_url(pg.url).set(database=name).render_as_string(False)


def table_1_0(store: Store) -> dict[str, dict[str, Any]]:
    from orbweaver.reports import build_report, load_inputs

    report = build_report(load_inputs(store))
    return {row.name: row.as_contract() for row in report.providers}


# -- the comparison ----------------------------------------------------------------------------


@dataclass
class Comparison:
    lost_sightings: list[str]
    lost_notices: list[str]
    failed: int
    duplicates: int
    triplicates: int
    in_doubt: int
    table_diffs: list[str]

    @property
    def ok(self) -> bool:
        return not (
            self.lost_sightings
            or self.lost_notices
            or self.failed
            or self.triplicates
            or self.duplicates > self.in_doubt
            or self.table_diffs
        )

    def summary(self) -> dict[str, Any]:
        return {
            "sightings_lost": len(self.lost_sightings),
            "notices_lost": len(self.lost_notices),
            "permanent_failures": self.failed,
            "duplicates": self.duplicates,
            "in_doubt": self.in_doubt,
            "received_three_times": self.triplicates,
            "table_1_0_differences": self.table_diffs,
        }


def compare(
    base: RunResult, faulted: RunResult, tolerance_days: float = PRECISION_DAYS
) -> Comparison:
    lost_sightings = sorted(
        u for u in base.sightings - faulted.sightings if u in faulted.placements
    )
    lost_notices = sorted(u for u in base.noticed - faulted.noticed if u in faulted.sightings)
    dups = [k for k, n in faulted.received.items() if n > 1]
    triples = [k for k, n in faulted.received.items() if n > 2]
    diffs: list[str] = []
    for name, row in base.table.items():
        other = faulted.table.get(name)
        if other is None:
            diffs.append(f"{name}: missing")
            continue
        if row["targeted"] != other["targeted"]:
            diffs.append(f"{name}: targeted {row['targeted']} vs {other['targeted']}")
        for key in ("removal_median_days", "removal_p90_days"):
            a, b = row[key], other[key]
            if (a is None) != (b is None) or (
                a is not None and b is not None and abs(a - b) > tolerance_days + 1e-9
            ):
                diffs.append(f"{name}: {key} {a} vs {b}")
    return Comparison(
        lost_sightings=lost_sightings,
        lost_notices=lost_notices,
        failed=faulted.failed_notices + faulted.failed_outbox,
        duplicates=len(dups),
        triplicates=len(triples),
        in_doubt=faulted.in_doubt,
        table_diffs=diffs,
    )
