"""`orbweaver monitor`: re-check what is due (several processes may run side by side)."""

from __future__ import annotations

import time

import typer


def monitor(
    loop: bool = typer.Option(False, "--loop", help="Keep going, one pass every --every s."),
    every: float = typer.Option(30.0, "--every", help="Seconds between passes with --loop."),
) -> None:
    """Re-check noticed URLs that are due, through the crawl's network policy."""
    from orbweaver.clock import clock_from_url
    from orbweaver.config import get_settings
    from orbweaver.monitor.service import check_due
    from orbweaver.monitor.settings import MonitorSettings
    from orbweaver.net import GuardedFetcher, NetworkPolicy, Resolver
    from orbweaver.store import open_store

    settings = get_settings()
    store = open_store()
    clock = clock_from_url(settings.clock_url or None)
    fetcher = GuardedFetcher(NetworkPolicy.from_settings(settings), Resolver(settings.dns_servers))
    msettings = MonitorSettings()
    try:
        while True:
            total = 0
            while True:
                stats = check_due(store, clock, fetcher, msettings)
                total += stats.checked
                if stats.checked:
                    typer.echo(
                        f"checked {stats.checked}: online {stats.online}, changed "
                        f"{stats.changed}, misses {stats.misses}, removed {stats.confirmed}"
                    )
                else:
                    break
            if not loop:
                return
            time.sleep(every)
    finally:
        fetcher.close()


def register(app: typer.Typer) -> None:
    app.command("monitor")(monitor)
