"""The end-to-end demo: the simulated world on one side, the whole product on the other.

This driver is the harness joining the two worlds. It starts `orbweaver.sim` (the only place that
imports it) and fast-forwards the world's clock; the product's stages see the world only over the
network and through that clock:

- a fresh store (`OUT/orbweaver.db`, SQLite), the world's published hash list fetched from
  its NCMEC-shaped hash-sharing service (the exchange "sim-ncmec") into the bank "known";
- crawl rounds as `orbweaver crawl` subprocesses (Scrapy's reactor starts once per process),
  following the world's clock over HTTP (`ORBWEAVER_CLOCK_URL`);
- the web app (review JSON API) on loopback, where the world's simulated analysts classify
  suspects, two per verdict;
- notices (attribution by DNS and RDAP, X-ARF by SMTP or webhook), follow-ups, escalations and
  re-checks, in this process on a `SettableClock` set from the world's clock URL at every step;
- the report (`orbweaver.reports`) from the store, and the world's ground truth beside it.

Time moves from one due event (a re-check, a follow-up, a crawl round) to the next, never past
one, so every re-check happens when the schedule says it should.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from orbweaver.categories import HARMFUL_ABUSIVE
from orbweaver.clock import RemoteClock, SettableClock
from orbweaver.config import Settings
from orbweaver.exchanges import ExchangeSettings
from orbweaver.monitor import MonitorSettings
from orbweaver.notices import NoticeSettings
from orbweaver.roles import (
    ProductSettings,
    build_attributor,
    build_fetcher,
    build_resolver,
    build_transport,
    build_web_app,
)
from orbweaver.store import Store, open_store, store_time
from orbweaver.store.models import Notice

# A shipped scenario (package data): `orbweaver.sim.scenario.find` resolves the name from any
# folder, a file at that path in the current folder first, as `orbweaver sim start` does.
DEFAULT_SCENARIO = Path("scenarios/table-1.0.toml")
# Table 1.0 at scale 0.001 holds ~480 actionable pictures on 18 providers (~220 notices from the
# first crawl); 30 days show short removals, re-uploads and still-online (censored) ones. Measured
# 2026-11-29: 45 days took 224 s of CPU and 575 MiB peak, so 30 days stays well under 5 minutes
# on 2 idle cores. Bigger scales and longer runs are a flag away.
DEFAULT_SCALE = 0.001
DEFAULT_DAYS = 30.0
BANK = "known"


def recheck_offsets(
    horizon_hours: float = 24 * 30, first: float = 1.0, rel: float = 0.15, cap: float = 8.0
) -> list[float]:
    """Re-check offsets (hours after the first notice): hourly at first, then spaced by 15% of
    the time elapsed, never more than `cap` hours apart. The removal instant is estimated midway
    between the last check online and the first miss, so its error is at most half a gap: within
    7.5% of the duration and within `cap`/2 hours (inside the fidelity bar of max(6 h, 10%)),
    where a daily cadence would be up to 12 h off."""
    out = [first]
    while out[-1] < horizon_hours:
        gap = min(cap, max(first, rel * out[-1]))
        out.append(round(out[-1] + gap, 2))
    return out


def demo_monitor_settings() -> MonitorSettings:
    return MonitorSettings(
        recheck_schedule_hours=recheck_offsets(),
        recheck_every_hours=8.0,
        offline_confirm_misses=2,
        offline_confirm_spacing_minutes=5.0,
        monitor_batch_size=500,
    )


@dataclass
class DemoOptions:
    scenario: Path = DEFAULT_SCENARIO
    scale: float = DEFAULT_SCALE
    days: float = DEFAULT_DAYS
    seed: int = 1
    out: Path = Path("demo-out")
    crawl_every_days: float = 5.0
    analysts: int = 2
    progress: bool = True
    monitor: MonitorSettings = field(default_factory=demo_monitor_settings)
    # Follow-up every day while online, escalate to the registrar after 3 unanswered rounds.
    followup_interval_hours: float = 24.0
    escalate_after_rounds: int = 3
    # The backlog (issue 18): the queue's order (None: the settings' own, `priority`), each
    # analyst's assessments per simulated day (None: as many as there are items, after each
    # crawl), the world's oracle classifier's AUC (None: no classifier), and content going
    # offline on its own (the world's `own_removal_factor`; None: 1.0 with a capacity, else 0).
    queue: str | None = None
    analyst_capacity: float | None = None
    classifier_auc: float | None = None
    own_removal: float | None = None
    # Leave the suspects of the last crawl round to a person at the console (`orbweaver demo`
    # does; the figures' tests review everything).
    leave_open: bool = False

    @property
    def own_removal_factor(self) -> float:
        if self.own_removal is not None:
            return self.own_removal
        return 1.0 if self.analyst_capacity is not None else 0.0

    @property
    def backlog(self) -> bool:
        """Whether any backlog flag departs from the default demo."""
        return any(
            v is not None
            for v in (self.queue, self.analyst_capacity, self.classifier_auc, self.own_removal)
        )


REFERENCE_PRACTICE = (
    "a first notice, then one every 24 h until the content is gone, no escalation "
    "(Project Arachnid's, which produced Table 1.0)"
)


def practice_of(options: DemoOptions) -> dict[str, Any]:
    """The product's notice settings this run uses, and whether they are the report's practice
    (the one the world is calibrated to reproduce its scenario under)."""
    hours, rounds = options.followup_interval_hours, options.escalate_after_rounds
    escalation = (
        f"escalation upstream after {rounds} unanswered rounds" if rounds > 0 else "no escalation"
    )
    return {
        "followup_interval_hours": hours,
        "escalate_after_rounds": rounds,
        "description": f"a first notice, then one every {hours:g} h until the content is gone, "
        f"{escalation}",
        "is_reference": hours == 24.0 and rounds <= 0,
        "reference": REFERENCE_PRACTICE,
    }


def calibration_of(truth: dict[str, Any], scenario: str) -> dict[str, Any]:
    """How the world was calibrated, with its scenario's own figures per provider."""
    keys = ("removal_median_days", "removal_p90_days", "recidivism_rate")
    return {
        "scenario": scenario,
        "calibrated_under": REFERENCE_PRACTICE,
        "check": "orbweaver sim calibrate --scenario FILE --policy arachnid",
        "providers": {
            row["name"]: {k: row["scenario"][k] for k in keys}
            for row in truth["providers"]
            if row.get("scenario") and row["service_type"] != "registrar"
        },
    }


def practice_line(options: DemoOptions) -> str:
    """One line for the terminal: the practice this run uses, and the world's calibration."""
    practice = practice_of(options)
    return (
        f"practice: {practice['description']}"
        + (" (the report's)" if practice["is_reference"] else "")
        + f". The world reproduces {options.scenario.stem}'s figures under the report's practice "
        f"(every 24 h, no escalation) over years; this table departs from them where the "
        f"practice or the {options.days:g} days differ."
    )


def review_line(review: dict[str, Any]) -> str:
    """One line for the terminal: what the review queue noticed while it mattered."""
    return (
        f"review ({review.get('queue')}): {review['suspects']} suspects, {review['assessed']} "
        f"verdicts, {review['actionable']} actionable, {review['noticed_while_online']} noticed "
        f"while online, {review['removed_before_review']} gone before review; median "
        f"{review['median_hours_suspect_to_notice']} h to notice; "
        f"{review['images_shown_per_actionable_verdict']} images shown per actionable verdict"
    )


@dataclass
class DemoResult:
    out: Path
    report_json: Path
    truth_json: Path
    html: Path
    database_url: str
    report: Any  # orbweaver.reports.tables.Report
    truth: dict[str, Any]
    stats: dict[str, Any]
    review: dict[str, Any] = field(default_factory=dict)


KEY_FILE = "suspect.key"


def keep_key(out: Path, key: str) -> Path:
    """The run's suspect key, kept beside its store (owner-only): without it the console on
    that store cannot open a single kept suspect."""
    path = out / KEY_FILE
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(key + "\n")
    return path


def console_lines(out: Path, database_url: str) -> list[str]:
    """How a newcomer opens the console on this run's store (plain HTTP on loopback only)."""
    return [
        "Console on this store (loopback only):",
        f"  export ORBWEAVER_DATABASE_URL={database_url}",
        f'  export ORBWEAVER_SUSPECT_KEY="$(cat {out / KEY_FILE})"',
        "  export ORBWEAVER_REVIEW_COOKIE_SECURE=false",
        "  orbweaver user add me --role analyst      # asks for a password",
        "  orbweaver serve --host 127.0.0.1 --port 8000",
        "  then open http://127.0.0.1:8000/ in a browser",
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _fresh_out(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in ("orbweaver.db", "orbweaver.db-wal", "orbweaver.db-shm", "crawl.log"):
        (out / name).unlink(missing_ok=True)
    shutil.rmtree(out / "var", ignore_errors=True)


def world_settings(info: dict[str, Any], database_url: str, data_dir: Path, key: str) -> Settings:
    """The shared settings of a deployment whose internet is the world: its DNS, Tor proxy,
    address ranges and port, its clock; its RDAP server and webhook endpoints allowed as a
    deployment allows the services it configured itself (for RDAP and webhooks only)."""
    endpoints = [info["rdap_bootstrap"], *info["webhooks"].values()]
    if "hashsharing" in info:
        endpoints.append(info["hashsharing"]["url"])
    return Settings(
        database_url=database_url,
        data_dir=data_dir,
        suspect_key=key,
        dns_servers=[info["dns"]],
        tor_proxy=info["tor_proxy"],
        crawl_allow_networks=list(info["allow_networks"]),
        crawl_port_map=f"80={info['http_port']}",
        clock_url=info["clock"],
        redis_url="",
        # the world's time runs fast: a DNS answer cached for 5 real minutes is days old
        dns_cache_ttl_s=0.0,
        fetch_timeout_s=10.0,
        service_allow_networks=[f"{urlsplit(u).hostname}/32" for u in endpoints],
    )


# The shared settings a product process (a crawl round) is given through its environment.
ENV_FIELDS = (
    "database_url",
    "data_dir",
    "suspect_key",
    "dns_servers",
    "tor_proxy",
    "crawl_allow_networks",
    "crawl_port_map",
    "clock_url",
    "redis_url",
    "dns_cache_ttl_s",
    "fetch_timeout_s",
    "service_allow_networks",
)


def settings_env(core: Settings) -> dict[str, str]:
    """`core` as the `ORBWEAVER_*` variables of a product process (lists comma-joined)."""
    env: dict[str, str] = {}
    for name in ENV_FIELDS:
        value = getattr(core, name)
        text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        env[f"ORBWEAVER_{name.upper()}"] = text
    return env


def product_env(
    info: dict[str, Any], database_url: str, data_dir: Path, key: str
) -> dict[str, str]:
    """The environment of product processes: the world's addresses as a deployment's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORBWEAVER_")}
    for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy"):
        env.pop(proxy, None)
    env.update(settings_env(world_settings(info, database_url, data_dir, key)))
    return env


def demo_settings(
    options: DemoOptions, info: dict[str, Any], out: Path, database_url: str, key: str
) -> ProductSettings:
    """Every setting the product runs with against this world, as a deployment would write
    them: the roles' builders (`orbweaver.roles`) make the stages from these."""
    from orbweaver.attribution import AttributionSettings
    from orbweaver.review import ReviewSettings

    host, port = info["smtp"].rsplit(":", 1)
    return ProductSettings(
        core=world_settings(info, database_url, out / "var", key),
        attribution=AttributionSettings(
            rdap_bootstrap_url=info["rdap_bootstrap"],
            providers_file=str(out / "var" / "providers.json"),
            attribution_cache_ttl_s=7 * 86400,
        ),
        notices=NoticeSettings(
            smtp_host=host,
            smtp_port=int(port),
            notice_from="notices@hotline.test",
            notice_org="orbweaver demo hotline",
            notice_domain="hotline.test",
            followup_interval_hours=options.followup_interval_hours,
            escalate_after_rounds=options.escalate_after_rounds,
        ),
        monitor=options.monitor,
        # The demo serves the console on plain-HTTP loopback: development cookies, said so.
        review=ReviewSettings(review_cookie_secure=False),
        exchanges=exchange_settings(info),
    )


@contextmanager
def serve_web(app: Any, port: int) -> Iterator[str]:
    """The web app under uvicorn on loopback, in a thread; yields its base URL."""
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="orbweaver-web", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the web app did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class Product:
    """orbweaver's stages against one world, talking through one store."""

    def __init__(self, options: DemoOptions, info: dict[str, Any], store: Store, out: Path) -> None:
        self.options = options
        self.store = store
        self.out = out
        self.remote = RemoteClock(info["clock"])
        self.clock = SettableClock(self.remote.now())
        self.key = secrets.token_urlsafe(32)
        self.database_url = str(store.engine.url)
        self.settings = demo_settings(options, info, out, self.database_url, self._vault_key())
        self.env = product_env(info, self.database_url, out / "var", self.settings.core.suspect_key)
        # The hotline's provider directory: names, contacts and channels RDAP does not carry
        # (webhook endpoints, which networks are CDNs), as an operator would maintain it.
        directory = Path(self.settings.attribution.providers_file)
        directory.parent.mkdir(parents=True, exist_ok=True)
        directory.write_text(json.dumps(info["providers"], indent=1))
        # The stages, built as every role builds them (one resolver shared, as in a role).
        resolver = build_resolver(self.settings)
        self.attributor = build_attributor(self.settings, self.clock, resolver)
        self.notice_settings = self.settings.notices
        self.fetcher = build_fetcher(self.settings, resolver)
        self.transport = build_transport(self.settings, resolver)
        self.stats: dict[str, Any] = {
            "crawl_rounds": 0,
            "crawl_seconds": 0.0,
            "steps": 0,
            "checks": 0,
            "notices_sent": 0,
            "assessments": 0,
            "notify_seconds": 0.0,
            "check_seconds": 0.0,
            "review_seconds": 0.0,
        }

    def _vault_key(self) -> str:
        from orbweaver.store import new_key

        return new_key()

    def close(self) -> None:
        self.fetcher.close()
        self.transport.close()
        self.attributor.close()

    def sync_clock(self) -> datetime:
        """Follow the world's clock (over HTTP, as every product process does)."""
        now = self.remote.now()
        if now > self.clock.now():
            self.clock.set(now)
        return self.clock.now()

    def crawl(self, urls: list[str], recrawl_every_s: float) -> None:
        """One crawl round in its own process: seeds not yet fetched and re-crawls due."""
        cmd = [
            sys.executable,
            "-m",
            "orbweaver.cli",
            "crawl",
            *urls,
            "--until-idle",
            "--recrawl-every",
            str(int(recrawl_every_s)),
            "--no-jobdir",
            "--no-progress",
            "--concurrency",
            "32",
            "--timeout",
            "10",
            # a hotline caps what one page may make it fetch (the world has 20,000-link traps)
            "--max-media-per-page",
            "200",
            "--log-level",
            "WARNING",
        ]
        started = time.monotonic()
        with open(self.out / "crawl.log", "a") as log:
            run = subprocess.run(
                cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, timeout=1800, check=False
            )
        if run.returncode != 0:
            tail = (self.out / "crawl.log").read_text()[-3000:]
            raise RuntimeError(f"crawl round failed ({run.returncode}):\n{tail}")
        self.stats["crawl_rounds"] += 1
        self.stats["crawl_seconds"] += time.monotonic() - started

    def notify_and_check(self) -> None:
        from orbweaver.monitor import check_due
        from orbweaver.notices import notify_pass

        t0 = time.monotonic()
        passes = notify_pass(
            self.store,
            self.clock,
            self.attributor,
            self.notice_settings,
            self.transport,
            fetcher=self.fetcher,
        )
        self.stats["notices_sent"] += passes.delivery.sent
        t1 = time.monotonic()
        self.stats["notify_seconds"] += t1 - t0
        while True:
            checked = check_due(self.store, self.clock, self.fetcher, self.options.monitor)
            self.stats["checks"] += checked.checked
            if checked.checked == 0:
                break
        self.stats["check_seconds"] += time.monotonic() - t1
        self.stats["steps"] += 1

    def next_due(self) -> datetime | None:
        """The earliest re-check or follow-up the store holds (naive UTC)."""
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
                    sa.select(sa.func.min(Notice.first_sent_at)).where(
                        Notice.status == "open", Notice.next_check_at.is_(None)
                    )
                ),
            ]
        due = [t for t in times if t is not None]
        return min(due) if due else None

    def counts(self) -> dict[str, int]:
        with self.store.session() as s:
            rows = s.execute(sa.select(Notice.status, sa.func.count()).group_by(Notice.status))
            by_status = {str(k): int(v) for k, v in rows}
        return by_status


def world_scenario(options: DemoOptions) -> Any:
    """The scenario the world is built from: the file as it is, or with content going offline on
    its own (`own_removal_factor`) for the backlog."""
    if options.own_removal_factor <= 0:
        return options.scenario
    import dataclasses

    from orbweaver.sim.scenario import load

    sc = load(options.scenario)
    world = dataclasses.replace(sc.world, own_removal_factor=options.own_removal_factor)
    return dataclasses.replace(sc, world=world)


def review_settings(options: DemoOptions, control: str) -> Any:
    """The review stage's settings for this run: the queue's order and, with an AUC, the world's
    oracle plugged in where a hotline plugs its classifier."""
    from orbweaver.demo.oracle import oracle_url
    from orbweaver.review import ReviewSettings

    fields: dict[str, Any] = {}
    if options.queue is not None:
        fields["review_queue_order"] = options.queue
    if options.classifier_auc is not None:
        fields["review_classifier"] = "orbweaver.demo.oracle:world_oracle"
        fields["review_classifier_url"] = oracle_url(control, options.classifier_auc)
    if options.analyst_capacity is not None and options.analyst_capacity > 0:
        # from ranking to verdict: ranks are refreshed daily, and the consensus' second
        # assessment comes about one analyst-assessment later (as bench_backlog sets it)
        fields["review_verdict_hours"] = 24.0 + 24.0 / options.analyst_capacity
    return ReviewSettings(**fields)


def review_service(options: DemoOptions, product: Product, control: str) -> Any:
    """The review service the console and its API use in this run (one per app)."""
    from orbweaver.review import ReviewService

    return ReviewService(
        product.store,
        product.clock,
        review_settings(options, control),
        vault_key=product.settings.core.suspect_key,
    )


EXCHANGE = "sim-ncmec"


def exchange_settings(info: dict[str, Any]) -> ExchangeSettings:
    """The world's hash-sharing service as a deployment configures an NCMEC exchange: the bank
    "known", its address, its credentials (a secret), the world's class for harmful-abusive
    pictures mapped (NCMEC's A/B classes map by default)."""
    from orbweaver.exchanges import ExchangeConfig

    shared = info["hashsharing"]
    return ExchangeSettings(
        exchange={
            EXCHANGE: ExchangeConfig(
                kind="ncmec",
                bank=BANK,
                url=shared["url"],
                user=shared["user"],
                categories={"HA": HARMFUL_ABUSIVE},
            )
        },
        exchange_credentials={EXCHANGE: f"{shared['user']}:{shared['password']}"},
    )


def fetch_known_list(product: Product, store: Store, clock: Any) -> int:
    """The known list, fetched from the world's hash-sharing service as the exchanges role
    fetches it (the exchange's client, through the deployment's network policy); the number
    of bank entries it added."""
    from orbweaver.exchanges import build_client, fetch
    from orbweaver.roles import build_exchange_guard

    settings = product.settings.exchanges
    config = settings.exchange[EXCHANGE]
    client = build_client(EXCHANGE, config, settings, guard=build_exchange_guard(product.settings))
    report = fetch(store, clock, EXCHANGE, config, client)
    if report.error:
        raise RuntimeError(f"the known list could not be fetched: {report.error}")
    return report.added


def _picture_of(world: Any) -> Callable[[str], int | None]:
    """sha256 -> the world's picture id, for bytes the world served."""

    def picture(sha256: str) -> int | None:
        label = world.media.label(sha256)
        return None if label is None else int(label["image_id"])

    return picture


def run_demo(
    options: DemoOptions, on_progress: Callable[[float, dict[str, Any]], None] | None = None
) -> DemoResult:
    """Run the whole chain against a fresh world; returns the report and the truth."""
    from orbweaver.banks import create_bank
    from orbweaver.demo.analysts import CappedReview, SimulatedAnalyst, review_round
    from orbweaver.demo.backlog import backlog_series, review_figures, truth_from_world
    from orbweaver.reports import build_report, load_inputs, write_all, write_json
    from orbweaver.sim import World

    out = options.out.resolve()
    _fresh_out(out)
    database_url = f"sqlite:///{out / 'orbweaver.db'}"
    started = time.monotonic()
    with World.start(world_scenario(options), scale=options.scale, seed=options.seed) as world:
        info = world.info
        store = open_store(database_url)
        product = Product(options, info, store, out)
        product.stats["world_start_seconds"] = round(time.monotonic() - started, 1)
        keep_key(out, product.settings.core.suspect_key)
        clock = product.clock
        create_bank(store, clock, BANK)
        product.stats["known_entries"] = fetch_known_list(product, store, clock)

        from orbweaver.access import create_client
        from orbweaver.review import add_user

        keys: dict[str, str] = {}
        for i in range(1, options.analysts + 1):
            name = f"analyst-{i}"
            with store.session() as s:
                add_user(s, clock, name, "analyst", secrets.token_urlsafe(16))
            keys[name] = create_client(store, clock, name, scopes=("review",), actor="demo")
        app = build_web_app(product.settings, store=store, clock=clock)
        reviews = None
        if options.backlog:  # the console's review service with the run's queue settings
            reviews = review_service(options, product, info["control"])
            app.state.review = reviews
        with serve_web(app, free_port()) as web_url:
            analysts = [
                SimulatedAnalyst(name, key, web_url, info["control"]) for name, key in keys.items()
            ]
            rounds: Callable[[list[Any]], int] = review_round
            if options.analyst_capacity is not None:
                refresh = reviews.queue.refresh_priorities if reviews is not None else None
                rounds = CappedReview(analysts, options.analyst_capacity, clock, refresh)
            try:
                _drive(options, world, product, analysts, rounds, on_progress)
            finally:
                for a in analysts:
                    a.close()
                product.close()
        now = product.sync_clock()
        truth = world.truth(images=True, now=now)
        review = review_figures(store, _picture_of(world), truth_from_world(truth["images"]), now)
        review["queue"] = reviews.settings.review_queue_order if reviews else "expected"
        review["analyst_capacity"] = options.analyst_capacity
        review["classifier_auc"] = options.classifier_auc
        review["own_removal_factor"] = options.own_removal_factor
        review["backlog"] = backlog_series(
            store, store_time(now) - timedelta(days=options.days), now
        )
    inputs = load_inputs(store)  # the cadence comes from the store, as for `orbweaver report`
    report = build_report(inputs)
    world_fields = {
        "practice": practice_of(options),
        "world": calibration_of(truth, options.scenario.stem),
    }
    paths = write_all(
        report,
        out,
        scenario=world_fields["world"]["providers"],
        review=review,
        organisation="orbweaver demo (a simulated world: no real provider, no real material)",
        generated_at=now,
    )
    report_json = out / "report.json"
    write_json(report, report_json)
    # The demo's report says which practice produced it and what the world was built to show.
    report_json.write_text(
        json.dumps(
            {**json.loads(report_json.read_text()), **world_fields, "review": review}, indent=2
        )
        + "\n"
    )
    truth.update(world_fields)
    truth_json = out / "truth.json"
    truth_json.write_text(json.dumps(truth, indent=1))
    product.stats["seconds"] = round(time.monotonic() - started, 1)
    (out / "run.json").write_text(json.dumps(product.stats, indent=1, default=str))
    store.dispose()
    return DemoResult(
        out=out,
        report_json=report_json,
        truth_json=truth_json,
        html=Path(paths["html"]),
        database_url=database_url,
        report=report,
        truth=truth,
        stats=product.stats,
        review=review,
    )


def _drive(
    options: DemoOptions,
    world: Any,
    product: Product,
    analysts: list[Any],
    review_round: Callable[[list[Any]], int],
    on_progress: Callable[[float, dict[str, Any]], None] | None,
) -> None:
    """Fast-forward the world from one due event to the next until `days` have passed."""
    start = store_time(product.sync_clock())
    end = start + timedelta(days=options.days)
    crawl_every = timedelta(days=options.crawl_every_days)
    next_crawl = start
    seeds: list[str] = list(world.info["seeds"])
    capped = options.analyst_capacity is not None
    while True:
        now = store_time(product.sync_clock())
        crawled = False
        if now >= next_crawl and now < end:
            product.crawl(seeds, crawl_every.total_seconds() - 3600)
            seeds = []
            next_crawl += crawl_every
            crawled = True
        last_round = crawled and next_crawl >= end and not capped
        if last_round and options.leave_open:
            pass  # the newcomer's backlog: left for a person at the console
        elif crawled or (capped and now < end):
            # after each crawl as many as wait; with a capacity, as the clock moves
            t0 = time.monotonic()
            product.stats["assessments"] += review_round(analysts)
            product.stats["review_seconds"] += time.monotonic() - t0
        product.notify_and_check()
        if on_progress is not None:
            on_progress((now - start).total_seconds() / 86400, product.stats)
        if now >= end:
            return
        due = product.next_due()
        # with a capacity, analysts work through the day: at least a step every few hours
        shift = now + timedelta(hours=4) if capped else None
        target = min(t for t in (due, next_crawl, end, shift) if t is not None)
        target = max(target, now + timedelta(seconds=1))
        world.clock.set(target)
