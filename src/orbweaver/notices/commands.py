"""`orbweaver notify [--loop]` and `orbweaver notices [--json] | export --format xarf DIR |
retry FAILED-ID...|--all-failed`."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from orbweaver.clock import Clock
    from orbweaver.net import GuardedFetcher
    from orbweaver.notices.planning import Attributor
    from orbweaver.notices.runner import PassStats
    from orbweaver.notices.settings import NoticeSettings
    from orbweaver.notices.transport import Transport
    from orbweaver.store import Store
    from orbweaver.supervise import Backoff

notices_app = typer.Typer(
    help="Removal notices: list, export, retry failed messages.", invoke_without_command=True
)


def _context() -> tuple[Any, Any]:
    from orbweaver.clock import clock_from_url
    from orbweaver.config import get_settings
    from orbweaver.store import open_store

    return open_store(), clock_from_url(get_settings().clock_url or None)


def notify(
    loop: bool = typer.Option(False, "--loop", help="Keep going, one pass every --every s."),
    every: float = typer.Option(30.0, "--every", help="Seconds between passes with --loop."),
) -> None:
    """Send what is due: new notices for new detections, follow-ups, escalations, retries.

    With --loop it waits out database, DNS and SMTP outages (backing off, logged once), and
    SIGTERM ends it after the message in flight, the rest of its batch handed back."""
    from orbweaver.notices.runner import notify_pass
    from orbweaver.roles import (
        ProductSettings,
        build_attributor,
        build_clock,
        build_fetcher,
        build_notify,
        build_resolver,
        build_store,
        build_transport,
        stop_on_signals,
    )
    from orbweaver.supervise import ensure_logging

    s = ProductSettings.load()
    if not loop:
        clock, resolver = build_clock(s), build_resolver(s)
        store = build_store(s)
        attributor = build_attributor(s, clock, resolver)
        transport = build_transport(s, resolver)
        fetcher = build_fetcher(s, resolver)
        try:
            _echo_pass(notify_pass(store, clock, attributor, s.notices, transport, fetcher=fetcher))
        finally:
            transport.close()
            attributor.close()
            fetcher.close()
        return
    ensure_logging()
    stop = threading.Event()
    stop_on_signals(stop, "notify")
    role = build_notify(s, stop)
    try:
        notify_loop(
            role.store,
            role.clock,
            role.attributor,
            every_s=every,
            settings=s.notices,
            transport=role.transport,
            stop=stop,
            fetcher=role.fetcher,
        )
    finally:
        role.close()


def notify_loop(
    store: Store,
    clock: Clock,
    attributor: Attributor,
    *,
    every_s: float,
    settings: NoticeSettings | None = None,
    stop: threading.Event | None = None,
    backoff: Backoff | None = None,
    transport: Transport | None = None,
    fetcher: GuardedFetcher | None = None,
) -> None:
    """`notify --loop`: a pass every `every_s` seconds until `stop`, through outages, each
    pass printed (`notices.notify_loop`, which the notify role runs, logs instead)."""
    from orbweaver.notices.runner import notify_loop as loop

    loop(
        store,
        clock,
        attributor,
        every_s=every_s,
        settings=settings,
        transport=transport,
        stop=stop,
        backoff=backoff,
        on_pass=_echo_pass,
        fetcher=fetcher,
    )


def _echo_pass(stats: PassStats) -> None:
    typer.echo(
        f"notices {stats.plan.notices} (tor-only {stats.plan.tor_only}, recidivist "
        f"{stats.plan.recidivist}, unattributed {stats.plan.unattributed}); rounds "
        f"{stats.rounds}; sent {stats.delivery.sent}, retrying {stats.delivery.retried}, "
        f"failed {stats.delivery.failed}; held {stats.delivery.held}, removed before notice "
        f"{stats.delivery.gone}, re-check inconclusive {stats.delivery.deferred}"
    )
    for error in stats.plan.errors[:10] + stats.delivery.errors[:10]:
        typer.echo(f"  {error}", err=True)


def _rows(session: Any) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from orbweaver.monitor import removal_seconds
    from orbweaver.store.models import Notice, Provider

    out = []
    for n, p in session.execute(
        select(Notice, Provider)
        .outerjoin(Provider, Provider.id == Notice.provider_id)
        .order_by(Notice.id)
    ):
        out.append(
            {
                "id": n.id,
                "url": n.url,
                "kind": n.kind,
                "provider": p.name if p else None,
                "status": n.status,
                "category": n.category,
                "network": n.network,
                "items": len(n.items),
                "recidivist": n.recidivist,
                "rounds": n.rounds_sent,
                "escalation_level": n.escalation_level,
                "first_sent_at": n.first_sent_at.isoformat() if n.first_sent_at else None,
                "removed_at": n.removed_at.isoformat() if n.removed_at else None,
                "removal_seconds": removal_seconds(n),
                "held_seconds": n.held_seconds,
            }
        )
    return out


@notices_app.callback()
def notices(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="JSON instead of a table."),
) -> None:
    """List notices: provider, status, rounds, escalation, recidivism, removal time."""
    if ctx.invoked_subcommand is not None:
        return
    store, _ = _context()
    with store.session() as session:
        rows = _rows(session)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "provider", "status", "rounds", "esc", "recid", "removal h", "url")
    for r in rows:
        secs = r["removal_seconds"]
        table.add_row(
            str(r["id"]),
            r["provider"] or "-",
            r["status"],
            str(r["rounds"]),
            str(r["escalation_level"]),
            "yes" if r["recidivist"] else "",
            f"{secs / 3600:.1f}" if secs is not None else "",
            r["url"],
        )
    Console().print(table)


@notices_app.command("export")
def export(
    directory: Path = typer.Argument(..., help="Where to write one JSON file per message."),
    fmt: str = typer.Option("xarf", "--format", help="Only xarf for now."),
) -> None:
    """Write the X-ARF report of every message sent (or queued) to DIR.

    One file per outbox row, named after the row (unique), never overwriting: a file already
    there with the same report is left as it is, one with different content is an error."""
    from sqlalchemy import select

    from orbweaver.notices.export import export_name, write_new
    from orbweaver.store.models import Outbox

    if fmt != "xarf":
        raise typer.BadParameter("only --format xarf is supported")
    store, _ = _context()
    directory.mkdir(parents=True, exist_ok=True)
    written = kept = 0
    clashes: list[str] = []
    with store.session() as session:
        for row in session.scalars(select(Outbox).order_by(Outbox.id)):
            name = export_name(row.id, row.notice_id, row.kind, row.round, row.provider_id)
            outcome = write_new(directory / name, json.dumps(row.xarf, indent=2) + "\n")
            if outcome == "written":
                written += 1
            elif outcome == "same":
                kept += 1
            else:
                clashes.append(name)
    typer.echo(f"wrote {written} X-ARF reports to {directory} ({kept} already there)")
    for name in clashes:
        typer.echo(f"not overwritten, a different file is there: {name}", err=True)
    if clashes:
        raise typer.Exit(1)


@notices_app.command("retry")
def retry(
    ids: list[int] | None = typer.Argument(
        None, help="Failed outbox ids, as the ALERT line in the log gives them."
    ),
    all_failed: bool = typer.Option(False, "--all-failed", help="Every failed message."),
) -> None:
    """Put failed messages back in the queue: due now, with a fresh retry window; audited by an
    `outbox.requeued` event. A member of a failed digest brings back its digest."""
    from sqlalchemy import select

    from orbweaver.notices.outbox import requeue_failed
    from orbweaver.store.models import Outbox

    if bool(ids) == all_failed:
        raise typer.BadParameter("give FAILED-ID... or --all-failed (not both)")
    store, clock = _context()
    missing: list[int] = []
    if ids:
        with store.session() as session:
            failed = set(
                session.scalars(
                    select(Outbox.id).where(Outbox.id.in_(ids), Outbox.status == "failed")
                )
            )
        missing = sorted(set(ids) - failed)
    wanted = None if all_failed else sorted(set(ids or []) - set(missing))
    done = requeue_failed(store, clock, wanted, actor=f"cli:{_user()}") if wanted != [] else []
    typer.echo(f"queued again: {', '.join(map(str, done)) or 'nothing'}")
    if missing:
        typer.echo(f"not failed, or no such message: {', '.join(map(str, missing))}", err=True)
        raise typer.Exit(1)


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


hold_app = typer.Typer(
    help="Holds: stop notices to a URL, host or case (a law-enforcement request); audited.",
    no_args_is_help=True,
)


@hold_app.command("add")
def hold_add(
    scope: str = typer.Argument(..., help="url, host or case (a notice id)."),
    value: str = typer.Argument(..., help="The URL, the host name, or the notice id."),
    reason: str = typer.Option(..., "--reason", help="Who asked and their reference."),
    legal: bool = typer.Option(
        False, "--legal", help="A legal hold: evidence kept past retention; notices still go."
    ),
) -> None:
    """Put a URL, host or case on hold: no notice, follow-up or escalation of it goes out
    until released; re-checks go on; its evidence is kept past retention. With --legal,
    only the evidence is kept. Audited (`hold.added`)."""
    from orbweaver.notices.holds import HoldError, add_hold

    store, clock = _context()
    try:
        with store.session() as session:
            hold = add_hold(
                session, clock, scope, value, reason=reason, actor=f"cli:{_user()}", legal=legal
            )
    except HoldError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(f"hold {hold.id}: {hold.scope} {hold.value}{' (legal)' if legal else ''}")


@hold_app.command("release")
def hold_release(hold_id: int = typer.Argument(..., help="The hold's id (`hold list`).")) -> None:
    """Release a hold: its notices' messages are due at once, their held time counted apart
    from removal time. Audited (`hold.released`)."""
    from orbweaver.notices.holds import HoldError, release_hold

    store, clock = _context()
    try:
        with store.session() as session:
            hold = release_hold(session, clock, hold_id, actor=f"cli:{_user()}")
    except HoldError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"released hold {hold.id}: {hold.scope} {hold.value}")


@hold_app.command("list")
def hold_list(
    active: bool = typer.Option(False, "--active", help="Only holds still in force."),
    as_json: bool = typer.Option(False, "--json", help="JSON instead of lines."),
) -> None:
    """Holds, newest first: scope, value, reason, who added and released them, when."""
    from dataclasses import asdict

    from orbweaver.notices.holds import list_holds

    store, _ = _context()
    with store.session() as session:
        rows = list_holds(session, active_only=active)
    if as_json:
        typer.echo(json.dumps([asdict(r) for r in rows], indent=2, default=str))
        return
    for r in rows:
        state = (
            f"released {r.released_at:%Y-%m-%d %H:%M} by {r.released_by}"
            if r.released_at
            else "ACTIVE"
        )
        typer.echo(
            f"{r.id}\t{'legal ' if r.legal else ''}{r.scope}\t{r.value}\t{state}\t"
            f"added {r.created_at:%Y-%m-%d %H:%M} "
            f"by {r.created_by}: {r.reason}"
        )


def register(app: typer.Typer) -> None:
    app.command("notify")(notify)
    app.add_typer(notices_app, name="notices")
    app.add_typer(hold_app, name="hold")
