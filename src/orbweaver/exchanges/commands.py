"""`orbweaver exchange ...`: the configured exchanges, their fetch and checkpoint, feedback."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from orbweaver.exchanges import ExchangeSettings

exchange_app = typer.Typer(
    help="Hash lists from exchanges (NCMEC, StopNCII, ThreatExchange, files): list, status, "
    "fetch, feedback."
)


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _settings() -> ExchangeSettings:
    from orbweaver.exchanges import ExchangeSettings

    return ExchangeSettings()


@exchange_app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="One JSON object per line.")) -> None:
    """The configured exchanges: kind, bank, address (credentials never shown)."""
    from orbweaver.config import mask_url

    settings = _settings()
    rows: list[dict[str, Any]] = [
        {
            "name": name,
            "kind": c.kind,
            "bank": c.bank,
            "url": mask_url(c.url),
            "enabled": c.enabled,
            "credentials": bool(settings.exchange_credentials.get(name) or c.password),
        }
        for name, c in sorted(settings.exchange.items())
    ]
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("exchange", "kind", "bank", "url", "enabled", "credentials")
    for row in rows:
        table.add_row(
            row["name"],
            row["kind"],
            row["bank"],
            row["url"],
            "yes" if row["enabled"] else "no",
            "set" if row["credentials"] else "missing",
        )
    Console().print(table)


@exchange_app.command("status")
def status_(
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """Each exchange's entries, stored checkpoint, last fetch, last error, pending feedback."""
    from orbweaver.exchanges import status
    from orbweaver.store import open_store

    rows = status(open_store(), _settings())
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row.__dict__))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("exchange", "kind", "bank", "entries", "checkpoint", "fetched", "error", "votes")
    for r in rows:
        table.add_row(
            r.name + ("" if r.configured else " (not configured)"),
            r.kind,
            r.bank,
            f"{r.entries:,}",
            json.dumps(r.checkpoint),
            r.fetched_at or "never",
            r.error[:80],
            str(r.pending_votes),
        )
    Console().print(table)


@exchange_app.command("fetch")
def fetch_(
    name: str,
    max_pages: int = typer.Option(0, help="Stop after this many pages (0: until done)."),
) -> None:
    """Fetch one exchange from its stored checkpoint into its bank, then send its pending
    feedback. A page the exchange garbles stops the fetch (exit 1); what came before is kept
    and the next fetch goes on from there."""
    from orbweaver.exchanges import ExchangeError, build_client, fetch, send_votes
    from orbweaver.roles import ProductSettings, build_clock, build_exchange_guard, build_store

    s = ProductSettings.load()
    config = s.exchanges.exchange.get(name)
    if config is None:
        _fail(
            f"no exchange named {name!r} (configured: {', '.join(s.exchanges.exchange) or 'none'})"
        )
        return
    try:
        client = build_client(name, config, s.exchanges, guard=build_exchange_guard(s))
    except ExchangeError as exc:
        _fail(f"{name}: {exc}")
        return
    store, clock = build_store(s), build_clock(s)

    def progress(report: Any) -> None:
        typer.echo(
            f"{name}: page {report.pages}, {report.entries:,} entries, {report.added:,} added, "
            f"{report.removed:,} withdrawn",
            err=True,
        )

    try:
        report = fetch(
            store,
            clock,
            name,
            config,
            client,
            max_pages=max_pages or None,
            snapshot=config.kind == "file",
            on_page=progress,
        )
    except ExchangeError as exc:
        _fail(f"{name}: {exc}")
        return
    votes = send_votes(store, clock, {name: client}, attempts=s.exchanges.exchange_vote_attempts)
    typer.echo(
        f"{name}: {report.pages} pages, {report.entries:,} entries, {report.added:,} added, "
        f"{report.updated:,} updated, {report.removed:,} withdrawn, {report.skipped:,} skipped"
        + (", up to date" if report.complete else "")
        + (f"; feedback sent {votes['sent']}" if votes["sent"] else "")
    )
    if report.error:
        _fail(f"{name}: {report.error} (the next fetch resumes after the last stored page)", 1)


@exchange_app.command("reset")
def reset_(name: str) -> None:
    """Forget an exchange's checkpoint: the next fetch starts from the beginning (and feeds
    the bank configured now, if it was moved)."""
    from orbweaver.clock import SystemClock
    from orbweaver.exchanges import ExchangeError, reset
    from orbweaver.store import open_store

    try:
        reset(open_store(), SystemClock(), name, _settings().exchange.get(name))
    except ExchangeError as exc:
        _fail(str(exc))
    typer.echo(f"{name}: checkpoint forgotten")


@exchange_app.command("vote")
def vote_(
    entry_id: int = typer.Argument(..., help="The bank entry's id."),
    verdict: str = typer.Argument(..., help="up (confirmed) or down (disputed)."),
    reason: str = typer.Option("", help="Why (required for down)."),
    by: str = typer.Option(..., "--by", help="The analyst giving it."),
) -> None:
    """Confirm (up) or dispute (down) an entry from another source. Stored and recorded in the
    event log; sent to the exchange it came from at its next fetch (or `exchange fetch`),
    where that exchange takes feedback."""
    from orbweaver.clock import SystemClock
    from orbweaver.exchanges import ExchangeError, vote
    from orbweaver.store import open_store

    if verdict not in ("up", "down"):
        _fail("the verdict is up or down")
    try:
        row = vote(
            open_store(),
            SystemClock(),
            entry_id,
            up=verdict == "up",
            reason=reason,
            actor=by,
            settings=_settings(),
        )
    except ExchangeError as exc:
        _fail(str(exc))
        return
    typer.echo(f"entry {entry_id}: {verdict}vote by {by} recorded ({row.status})")


@exchange_app.command("votes")
def votes_(as_json: bool = typer.Option(False, "--json", help="One JSON object per line.")) -> None:
    """Feedback given, newest first: entry, vote, reason, who, and whether it was sent."""
    import sqlalchemy as sa

    from orbweaver.store import open_store
    from orbweaver.store.models import ExchangeVote

    with open_store().session() as session:
        rows = session.scalars(sa.select(ExchangeVote).order_by(ExchangeVote.id.desc())).all()
        out = [
            {
                "id": r.id,
                "entry": r.bank_entry_id,
                "vote": r.vote,
                "reason": r.reason,
                "by": r.actor,
                "at": r.created_at.isoformat(),
                "status": r.status,
                "error": r.error,
            }
            for r in rows
        ]
    for row in out:
        if as_json:
            typer.echo(json.dumps(row))
        else:
            typer.echo(
                f"{row['id']}\tentry {row['entry']}\t{row['vote']}\t{row['status']}\t"
                f"{row['by']}\t{row['reason']}"
            )


def register(app: typer.Typer) -> None:
    app.add_typer(exchange_app, name="exchange")
