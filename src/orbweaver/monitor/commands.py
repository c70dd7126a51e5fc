"""`orbweaver monitor`: re-check what is due (several processes may run side by side)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from orbweaver.clock import Clock
    from orbweaver.monitor.service import MonitorStats
    from orbweaver.monitor.settings import MonitorSettings
    from orbweaver.net import GuardedFetcher
    from orbweaver.store import Store
    from orbweaver.supervise import Backoff


def monitor(
    loop: bool = typer.Option(False, "--loop", help="Keep going, one pass every --every s."),
    every: float = typer.Option(30.0, "--every", help="Seconds between passes with --loop."),
) -> None:
    """Re-check noticed URLs that are due, through the crawl's network policy.

    With --loop it waits out database and network outages (backing off, logged once), and
    SIGTERM ends it after the fetches in flight, the checks not started handed back."""
    from orbweaver.roles import (
        ProductSettings,
        build_clock,
        build_fetcher,
        build_monitor,
        build_store,
        stop_on_signals,
    )
    from orbweaver.supervise import ensure_logging

    s = ProductSettings.load()
    if not loop:
        store, fetcher = build_store(s), build_fetcher(s)
        try:
            check_all_due(store, build_clock(s), fetcher, s.monitor)
        finally:
            fetcher.close()
        return
    ensure_logging()
    stop = threading.Event()
    stop_on_signals(stop, "monitor")
    role = build_monitor(s, stop)
    try:
        monitor_loop(role.store, role.clock, role.fetcher, s.monitor, every_s=every, stop=stop)
    finally:
        role.close()


def check_all_due(
    store: Store, clock: Clock, fetcher: GuardedFetcher, settings: MonitorSettings
) -> int:
    """Re-check batches until nothing is due, each batch printed; returns how many."""
    from orbweaver.monitor.service import check_all_due as drain

    return drain(store, clock, fetcher, settings, on_batch=_echo_batch)


def _echo_batch(stats: MonitorStats) -> None:
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
    outages, each batch printed (`monitor.monitor_loop`, which the monitor role runs, logs)."""
    from orbweaver.monitor.service import monitor_loop as loop

    loop(
        store,
        clock,
        fetcher,
        settings,
        every_s=every_s,
        stop=stop,
        backoff=backoff,
        on_batch=_echo_batch,
    )


def register(app: typer.Typer) -> None:
    app.command("monitor")(monitor)
