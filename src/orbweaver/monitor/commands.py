"""`orbweaver monitor`: re-check what is due (several processes may run side by side)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from orbweaver.clock import Clock
    from orbweaver.monitor.settings import MonitorSettings
    from orbweaver.net import GuardedFetcher
    from orbweaver.store import Store
    from orbweaver.supervise import Backoff


def monitor(
    loop: bool = typer.Option(False, "--loop", help="Keep going, one pass every --every s."),
    every: float = typer.Option(30.0, "--every", help="Seconds between passes with --loop."),
) -> None:
    """Re-check noticed URLs that are due, through the crawl's network policy.

    With --loop it waits out database and network outages (backing off, logged once)."""
    from orbweaver.clock import clock_from_url
    from orbweaver.config import get_settings
    from orbweaver.monitor.settings import MonitorSettings
    from orbweaver.net import GuardedFetcher, NetworkPolicy, Resolver
    from orbweaver.store import open_store
    from orbweaver.supervise import ensure_logging, patiently

    settings = get_settings()
    clock = clock_from_url(settings.clock_url or None)
    if loop:
        ensure_logging()
        store = patiently(open_store, name="monitor: opening the store")
    else:
        store = open_store()
    fetcher = GuardedFetcher(NetworkPolicy.from_settings(settings), Resolver(settings.dns_servers))
    msettings = MonitorSettings()
    try:
        if loop:
            monitor_loop(store, clock, fetcher, msettings, every_s=every)
        else:
            check_all_due(store, clock, fetcher, msettings)
    finally:
        fetcher.close()


def check_all_due(
    store: Store, clock: Clock, fetcher: GuardedFetcher, settings: MonitorSettings
) -> int:
    """Re-check batches until nothing is due; returns how many were checked."""
    from orbweaver.monitor.service import check_due

    total = 0
    while True:
        stats = check_due(store, clock, fetcher, settings)
        if not stats.checked:
            return total
        total += stats.checked
        typer.echo(
            f"checked {stats.checked}: online {stats.online}, changed "
            f"{stats.changed}, misses {stats.misses}, removed {stats.confirmed}"
        )


def monitor_loop(
    store: Store,
    clock: Clock,
    fetcher: GuardedFetcher,
    settings: MonitorSettings,
    *,
    every_s: float,
    stop: threading.Event | None = None,
    backoff: Backoff | None = None,
) -> None:
    """`monitor --loop`: drain what is due every `every_s` seconds until `stop`, through
    outages."""
    from orbweaver.supervise import run_loop

    run_loop(
        lambda: check_all_due(store, clock, fetcher, settings),
        name="monitor",
        every_s=every_s,
        backoff=backoff,
        stop=stop,
    )


def register(app: typer.Typer) -> None:
    app.command("monitor")(monitor)
