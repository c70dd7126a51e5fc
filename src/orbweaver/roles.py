"""The composition root: every role of the product, built from settings, in one table.

A *role* is one long-running job of the product: `crawl` (the page crawl), `notify` (notices,
follow-ups, delivery), `monitor` (re-checks), `review-sync` (suspects into the review queue),
`exchanges` (hash lists fetched from exchanges) and `serve` (the web app: Shield API,
console). Each is a name, a builder (settings → a built
role: its store, clock, network policy, resolver, attributor, transport, fetcher, app or crawl
options) and a loop, registered in `ROLES`. A role still to come (`media` workers) is
one more entry and one more health-port setting.

Everything that runs the product builds it here, from settings:

- `orbweaver run` (`run_commands`) starts each role as its own process (`orbweaver role NAME`,
  supervised by `orbweaver.ops.Supervisor`);
- `orbweaver role NAME` runs one role in the foreground, with its health server
  (`/livez`, `/readyz`, `/metrics` on the role's port) and graceful stop on SIGTERM;
- `orbweaver notify`, `monitor`, `serve` and `crawl` build their pieces with the same
  builders (the stage command modules are the CLI's edge, allowed to call this root);
- the demo (`orbweaver.demo`) builds `ProductSettings` from the simulated world and calls the
  same builders instead of constructing the stages itself.

A builder given `stop` waits out an unreachable store (and, without `auto_migrate`, a schema
that is not current yet) with backoff, logged once; without it, it fails at once, as a
one-shot command should.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from orbweaver.attribution import AttributionSettings
from orbweaver.clock import Clock, clock_from_url
from orbweaver.config import RunSettings, Settings
from orbweaver.crawl import CrawlSettings
from orbweaver.exchanges import ExchangeSettings
from orbweaver.monitor import MonitorSettings
from orbweaver.notices import NoticeSettings
from orbweaver.review import ReviewSettings
from orbweaver.store import Store, open_store
from orbweaver.supervise import is_transient, patiently, run_loop
from orbweaver.web import WebSettings

if TYPE_CHECKING:
    from orbweaver.attribution import Attributor
    from orbweaver.crawl import CrawlOptions
    from orbweaver.net import GuardedFetcher, NetworkPolicy, Resolver
    from orbweaver.notices import SmtpWebhookTransport
    from orbweaver.ops import Check

log = logging.getLogger(__name__)


# -- settings --------------------------------------------------------------------------------


@dataclass
class ProductSettings:
    """Every settings class a role is built from. `load()` reads them all from the
    environment and the TOML file; the demo gives its own (the world's addresses)."""

    core: Settings = field(default_factory=Settings)
    run: RunSettings = field(default_factory=RunSettings)
    crawl: CrawlSettings = field(default_factory=CrawlSettings)
    attribution: AttributionSettings = field(default_factory=AttributionSettings)
    notices: NoticeSettings = field(default_factory=NoticeSettings)
    monitor: MonitorSettings = field(default_factory=MonitorSettings)
    review: ReviewSettings = field(default_factory=ReviewSettings)
    exchanges: ExchangeSettings = field(default_factory=ExchangeSettings)
    web: WebSettings | None = None  # the shared settings plus the web ones, from `core`

    def __post_init__(self) -> None:
        if self.web is None:
            from orbweaver.web import web_settings

            self.web = web_settings(self.core)

    @classmethod
    def load(cls) -> ProductSettings:
        return cls()

    @property
    def web_settings(self) -> WebSettings:
        assert self.web is not None
        return self.web


# -- builders: one per thing a role needs ----------------------------------------------------


class SchemaBehind(RuntimeError):
    """The store's schema is older than this code's: `orbweaver db upgrade` has not run yet."""


def _schema_transient(exc: BaseException) -> bool:
    return isinstance(exc, SchemaBehind) or is_transient(exc)


def build_store(
    s: ProductSettings, *, stop: threading.Event | None = None, name: str = "store"
) -> Store:
    """The store, migrated when `auto_migrate` (the embedded default); else opened as it is,
    and (with `stop`, in a role) waited for until `orbweaver db upgrade` has made it current,
    so a runtime database user needs no DDL grants."""
    url = s.core.resolved_database_url
    if s.run.auto_migrate:
        if stop is None:
            return open_store(url)
        return patiently(lambda: open_store(url), name=f"{name}: opening the store", stop=stop)
    store = open_store(url, upgrade=False)

    def current() -> Store:
        current, heads = store.schema_revisions()
        if current != heads:
            have, want = ",".join(sorted(current)) or "none", ",".join(sorted(heads))
            raise SchemaBehind(f"schema at {have}, this code needs {want} (orbweaver db upgrade)")
        return store

    if stop is None:
        return current()
    return patiently(
        current, name=f"{name}: waiting for the schema", stop=stop, transient=_schema_transient
    )


def build_clock(s: ProductSettings) -> Clock:
    """The system clock, or the one at `clock_url` (the simulated world's)."""
    return clock_from_url(s.core.clock_url or None)


def build_resolver(s: ProductSettings) -> Resolver:
    from orbweaver.net import Resolver

    return Resolver(s.core.dns_servers, cache_ttl=s.core.dns_cache_ttl_s)


def build_policy(s: ProductSettings) -> NetworkPolicy:
    """The network policy of every fetch of content (crawl, re-checks)."""
    from orbweaver.net import NetworkPolicy

    return NetworkPolicy.from_settings(s.core)


def build_service_policy(s: ProductSettings) -> NetworkPolicy:
    """The policy plus the deployment's own services' ranges, for RDAP and webhooks only."""
    return build_policy(s).allowing(*s.core.service_allow_networks)


def build_attributor(
    s: ProductSettings, clock: Clock, resolver: Resolver | None = None
) -> Attributor:
    from orbweaver.attribution import Attributor

    return Attributor(
        clock, resolver or build_resolver(s), s.attribution, policy=build_service_policy(s)
    )


def build_transport(s: ProductSettings, resolver: Resolver | None = None) -> SmtpWebhookTransport:
    """SMTP as configured; webhooks through the service policy."""
    from orbweaver.net import GuardedClient
    from orbweaver.notices import SmtpWebhookTransport

    client = GuardedClient(
        build_service_policy(s), resolver or build_resolver(s), timeout=s.notices.webhook_timeout_s
    )
    return SmtpWebhookTransport(s.notices, client)


def build_fetcher(s: ProductSettings, resolver: Resolver | None = None) -> GuardedFetcher:
    from orbweaver.net import GuardedFetcher

    return GuardedFetcher(build_policy(s), resolver or build_resolver(s))


def build_exchange_guard(s: ProductSettings) -> Callable[[str], None]:
    """The check every request to an exchange passes (its library's HTTP client makes the
    request): the service policy (the deployment's own services allowed, as for RDAP and
    webhooks), the name resolved through our resolver and every address checked."""
    from orbweaver.net import PolicyError, is_ip_literal

    policy, resolver = build_service_policy(s), build_resolver(s)

    def guard(url: str) -> None:
        target = policy.target(url)
        if target.network != "clear":
            raise PolicyError("exchanges are reached on the clear web only")
        host = target.host
        addresses = [host] if is_ip_literal(host) else resolver.addresses(host)
        refusal = policy.addresses_refusal(addresses)
        if refusal:
            raise PolicyError(refusal)

    return guard


def check_suspect_key(core: Settings) -> None:
    """Refuse to start with a suspect key that is not a random key (a passphrase), rather
    than fail at the first image an analyst opens."""
    if core.suspect_key:
        from orbweaver.store import Vault

        Vault(core.suspect_key, retired=core.suspect_retired_key)


def build_web_app(
    s: ProductSettings, store: Store | None = None, clock: Clock | None = None
) -> Any:
    """The FastAPI app, with `/livez`, `/readyz` and `/metrics` on it."""
    from orbweaver.web import create_app

    check_suspect_key(s.core)
    return create_app(s.web_settings, store=store, clock=clock or build_clock(s), review=s.review)


def web_app_from_environment() -> Any:
    """uvicorn's factory for `serve` with several workers: each builds its own app."""
    s = ProductSettings.load()
    return build_web_app(s, open_store(s.core.resolved_database_url, upgrade=False))


def build_crawl_options(s: ProductSettings, **overrides: Any) -> CrawlOptions:
    """The crawl's knobs from settings (a daemon crawl, as the role runs it); `orbweaver
    crawl` passes its flags as `overrides`."""
    from orbweaver.crawl import CrawlOptions
    from orbweaver.signals import VideoLimits

    c, app = s.crawl, s.core
    options = CrawlOptions(
        until_idle=False,
        depth_limit=c.crawl_depth,
        max_pages_per_site=c.crawl_max_pages_per_site,
        max_media_per_page=c.crawl_max_media_per_page,
        concurrency=c.crawl_concurrency,
        per_host_concurrency=c.crawl_per_host,
        download_delay_s=c.crawl_delay_s,
        autothrottle=c.crawl_autothrottle,
        recrawl_interval_s=c.crawl_recrawl_every_s,
        pdq_quality_min=app.pdq_quality_min,
        max_media_bytes=app.max_image_bytes,
        max_pixels=app.max_image_pixels,
        jobdir=None if app.redis_url else app.data_dir / "crawl-job",
        redis_url=app.redis_url,
        redis_prefix=c.crawl_redis_prefix,
        progress=False,
        timeout_s=c.crawl_timeout_s,
        hash_processes=None if c.crawl_hash_processes < 0 else c.crawl_hash_processes,
        suspect_limbo_max_bytes=c.crawl_suspect_limbo_max_bytes,
        media_workers=None if c.crawl_media_workers < 0 else c.crawl_media_workers,
        media_in_flight=c.crawl_media_in_flight,
        media_lease_s=c.crawl_media_lease_s,
        media_max_attempts=c.crawl_media_max_attempts,
        media_retry_base_s=c.crawl_media_retry_base_s,
        unmatched=c.crawl_unmatched,
        seen_retention_days=c.crawl_seen_retention_days,
        video_limits=VideoLimits.from_settings(app, decode_threads=1),
    )
    return dataclasses.replace(options, **overrides)


# -- the roles -------------------------------------------------------------------------------


class BuiltRole(Protocol):
    """A role ready to run: its loop, what `/readyz` checks, which queues `/metrics` reads."""

    store: Store
    clock: Clock
    queues: tuple[str, ...]

    def probes(self) -> list[Callable[[], Check]]: ...

    def loop(self, stop: threading.Event) -> None: ...

    def close(self) -> None: ...


def _store_probes(store: Store) -> list[Callable[[], Check]]:
    from orbweaver.ops import store_probes

    return store_probes(store)


@dataclass
class NotifyRole:
    """Plans notices, schedules rounds and digests, delivers the outbox, every few seconds."""

    settings: ProductSettings
    store: Store
    clock: Clock
    attributor: Attributor
    transport: SmtpWebhookTransport
    fetcher: GuardedFetcher  # the re-check just before a first notice (`notices/gate.py`)
    queues: tuple[str, ...] = ("outbox", "followups")

    def probes(self) -> list[Callable[[], Check]]:
        return _store_probes(self.store)

    def loop(self, stop: threading.Event) -> None:
        from orbweaver.notices import notify_loop

        notify_loop(
            self.store,
            self.clock,
            self.attributor,
            every_s=self.settings.run.notify_every_s,
            settings=self.settings.notices,
            transport=self.transport,
            stop=stop,
            fetcher=self.fetcher,
        )

    def close(self) -> None:
        self.transport.close()
        self.attributor.close()
        self.fetcher.close()
        self.store.dispose()


def build_notify(s: ProductSettings, stop: threading.Event | None = None) -> NotifyRole:
    store = build_store(s, stop=stop, name="notify")
    clock = build_clock(s)
    resolver = build_resolver(s)
    return NotifyRole(
        s,
        store,
        clock,
        build_attributor(s, clock, resolver),
        build_transport(s, resolver),
        build_fetcher(s, resolver),
    )


@dataclass
class MonitorRole:
    """Re-checks what is due, every few seconds."""

    settings: ProductSettings
    store: Store
    clock: Clock
    fetcher: GuardedFetcher
    queues: tuple[str, ...] = ("rechecks",)

    def probes(self) -> list[Callable[[], Check]]:
        return _store_probes(self.store)

    def loop(self, stop: threading.Event) -> None:
        from orbweaver.monitor import monitor_loop

        monitor_loop(
            self.store,
            self.clock,
            self.fetcher,
            self.settings.monitor,
            every_s=self.settings.run.monitor_every_s,
            stop=stop,
        )

    def close(self) -> None:
        self.fetcher.close()
        self.store.dispose()


def build_monitor(s: ProductSettings, stop: threading.Event | None = None) -> MonitorRole:
    store = build_store(s, stop=stop, name="monitor")
    return MonitorRole(s, store, build_clock(s), build_fetcher(s))


@dataclass
class ReviewSyncRole:
    """Turns pending suspects into review items; re-ranks the open ones now and then."""

    settings: ProductSettings
    store: Store
    clock: Clock
    queue: Any  # orbweaver.review.ReviewQueue
    queues: tuple[str, ...] = ("suspects", "review")
    _refreshed: float = 0.0

    def probes(self) -> list[Callable[[], Check]]:
        return _store_probes(self.store)

    def step(self, stop: threading.Event) -> None:
        while not stop.is_set() and self.queue.sync(max_batches=1).suspects:
            pass  # one batch a transaction; a stop waits for one batch at most
        if time.monotonic() - self._refreshed >= self.settings.run.review_refresh_every_s:
            self.queue.refresh_priorities()
            self._refreshed = time.monotonic()

    def loop(self, stop: threading.Event) -> None:
        run_loop(
            lambda: self.step(stop),
            name="review-sync",
            every_s=self.settings.run.review_sync_every_s,
            stop=stop,
        )

    def close(self) -> None:
        self.store.dispose()


def build_review_sync(s: ProductSettings, stop: threading.Event | None = None) -> ReviewSyncRole:
    from orbweaver.review import ReviewQueue

    store = build_store(s, stop=stop, name="review-sync")
    clock = build_clock(s)
    return ReviewSyncRole(s, store, clock, ReviewQueue(store, clock, s.review))


@dataclass
class ExchangesRole:
    """Fetches every configured exchange from its checkpoint, and sends pending feedback,
    every `exchange_fetch_every_s`."""

    settings: ProductSettings
    store: Store
    clock: Clock
    guard: Callable[[str], None]
    queues: tuple[str, ...] = ()

    def probes(self) -> list[Callable[[], Check]]:
        return _store_probes(self.store)

    def loop(self, stop: threading.Event) -> None:
        from orbweaver.exchanges import exchanges_loop

        exchanges_loop(
            self.store,
            self.clock,
            self.settings.exchanges,
            every_s=self.settings.exchanges.exchange_fetch_every_s,
            stop=stop,
            guard=self.guard,
        )

    def close(self) -> None:
        self.store.dispose()


def build_exchanges(s: ProductSettings, stop: threading.Event | None = None) -> ExchangesRole:
    store = build_store(s, stop=stop, name="exchanges")
    return ExchangesRole(s, store, build_clock(s), build_exchange_guard(s))


@dataclass
class CrawlRole:
    """The page crawl as a daemon: seeds, public reports and due re-crawls as they come.
    Scrapy owns the main thread and its signals: SIGTERM finishes the requests in flight and
    flushes the store writer's batches before the process ends."""

    settings: ProductSettings
    store: Store
    clock: Clock
    options: CrawlOptions
    queues: tuple[str, ...] = ("crawl_seeds", "crawl_recrawls")

    def probes(self) -> list[Callable[[], Check]]:
        from orbweaver.crawl import index_loaded
        from orbweaver.ops import Check

        def index() -> Check:
            loaded = index_loaded()
            return Check("index", loaded, "match index loaded" if loaded else "loading")

        return [*_store_probes(self.store), index]

    def loop(self, stop: threading.Event) -> None:
        from orbweaver.crawl import run_crawl

        if stop.is_set():
            return
        # Scrapy installs its own root log handler (its LOG_LEVEL, its format): the role's
        # own would print every line twice.
        logging.getLogger().handlers.clear()
        summary = run_crawl([], self.options, self.settings.core, store=self.store)
        log.info("crawl: ended (%s)", summary.stats.get("finish_reason"))

    def close(self) -> None:
        self.store.dispose()


def build_crawl(s: ProductSettings, stop: threading.Event | None = None) -> CrawlRole:
    store = build_store(s, stop=stop, name="crawl")
    return CrawlRole(s, store, build_clock(s), build_crawl_options(s))


@dataclass
class ServeRole:
    """The web app under uvicorn; `/livez`, `/readyz` and `/metrics` are routes of the app.
    uvicorn owns the signals: SIGTERM finishes the requests in flight, then stops."""

    settings: ProductSettings
    store: Store
    clock: Clock
    queues: tuple[str, ...] = ()

    def probes(self) -> list[Callable[[], Check]]:
        return _store_probes(self.store)

    def loop(self, stop: threading.Event) -> None:
        if stop.is_set():
            return
        run = self.settings.run
        serve_app(
            self.settings,
            run.serve_host,
            run.serve_port,
            run.serve_workers,
            "info",
            store=self.store,
        )

    def close(self) -> None:
        self.store.dispose()


def build_serve(s: ProductSettings, stop: threading.Event | None = None) -> ServeRole:
    store = build_store(s, stop=stop, name="serve")
    return ServeRole(s, store, build_clock(s))


def refuse_plain_http_cookies(s: ProductSettings, host: str) -> None:
    """Cookies without Secure are for development on loopback only: anywhere else a session
    cookie sent over plain HTTP could be read on the way."""
    import ipaddress

    if s.review.review_cookie_secure:
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise ValueError(
            f"review_cookie_secure is off (plain-HTTP development) but serve listens on "
            f"{host}: turn it on, or listen on 127.0.0.1"
        )


def serve_app(
    s: ProductSettings,
    host: str,
    port: int,
    workers: int,
    log_level: str,
    *,
    store: Store | None = None,
) -> None:
    """uvicorn on `host:port`: one app in this process (on `store` when given), or `workers`
    processes each building its own (`web_app_from_environment`) on one shared socket."""
    import uvicorn

    refuse_plain_http_cookies(s, host)
    if workers <= 1:
        store = store or open_store(s.core.resolved_database_url, upgrade=False)
        app = build_web_app(s, store)
        uvicorn.run(app, host=host, port=port, log_level=log_level)
        return
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
        "orbweaver.roles:web_app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
    )
    Multiprocess(config, sockets=[tcp_listener(host, port)]).run()


def tcp_listener(host: str, port: int) -> Any:
    """The shared listening socket for several workers, created with `proto=IPPROTO_TCP`.

    uvicorn's own (0.54) leaves proto at 0, so asyncio never sets TCP_NODELAY on accepted
    connections and every keep-alive request waits ~40 ms on delayed ACKs (Kludex/uvicorn#3149).
    """
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


# -- the table -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Role:
    """One role: its name, what it does, its builder, and the setting of its health port.
    `own_health` roles answer `/livez`, `/readyz` and `/metrics` on their own server."""

    name: str
    summary: str
    build: Callable[[ProductSettings, threading.Event | None], BuiltRole]
    port_setting: str
    own_health: bool = False

    def port(self, run: RunSettings) -> int:
        return int(getattr(run, self.port_setting))


ROLES: dict[str, Role] = {
    role.name: role
    for role in (
        Role("crawl", "the page crawl (Scrapy), a daemon", build_crawl, "crawl_health_port"),
        Role("notify", "notices, rounds, digests, delivery", build_notify, "notify_health_port"),
        Role("monitor", "re-checks of noticed URLs", build_monitor, "monitor_health_port"),
        Role(
            "review-sync",
            "suspects into the review queue",
            build_review_sync,
            "review_sync_health_port",
        ),
        Role(
            "exchanges",
            "hash lists fetched from exchanges, feedback sent",
            build_exchanges,
            "exchanges_health_port",
        ),
        Role("serve", "the web app (Shield API, console)", build_serve, "serve_port", True),
    )
}


def role_names(wanted: list[str] | None) -> list[str]:
    """The roles asked for, in the table's order; every role when none is named."""
    names = [n.strip() for n in wanted or [] if n.strip()] or list(ROLES)
    unknown = [n for n in names if n not in ROLES]
    if unknown:
        raise ValueError(f"unknown role(s) {', '.join(unknown)}; roles: {', '.join(ROLES)}")
    return [n for n in ROLES if n in set(names)]


def health_url(s: ProductSettings, name: str, path: str = "/readyz") -> str:
    role = ROLES[name]
    host = s.run.serve_host if role.own_health else s.run.health_host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"http://{host}:{role.port(s.run)}{path}"


# -- running one role in this process --------------------------------------------------------


def run_role(name: str, s: ProductSettings | None = None) -> int:
    """Run role `name` in the foreground until SIGTERM or SIGINT (then it finishes or hands
    back what it holds). Its health server answers from the start: alive, not ready until
    the role is built (the store reachable, the schema current, its index loaded)."""
    from orbweaver.ops import Health, HealthServer, QueueCollector, register_collector

    role = ROLES[name]
    s = s or ProductSettings.load()
    stop = threading.Event()
    stop_on_signals(stop, name)
    health = Health(name, timeout_s=s.run.health_timeout_s)
    server = None
    if not role.own_health:
        server = HealthServer(health, s.run.health_host, role.port(s.run)).start()
    try:
        try:
            built = role.build(s, stop)
        except Exception:
            if stop.is_set():
                return 0  # stopped while waiting for the store
            raise
        health.set_probes(built.probes())
        if built.queues:
            register_collector(
                f"queues:{name}", QueueCollector(built.store, built.clock, built.queues)
            )
        log.info("%s: built; running", name)
        try:
            built.loop(stop)
        except BaseException as exc:
            health.ended = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            built.close()
    finally:
        if server is not None:
            server.stop()
    log.info("%s: stopped", name)
    return 0


def stop_on_signals(stop: threading.Event, name: str) -> None:
    """SIGTERM and SIGINT set `stop` (a role that runs Scrapy or uvicorn gets theirs instead,
    which stop gracefully too)."""

    def handler(signum: int, _frame: object) -> None:
        if not stop.is_set():
            log.info("%s: %s received, stopping", name, signal.Signals(signum).name)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
