"""`orbweaver notify` and `orbweaver notices [--json] | export --format xarf DIR`."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer

notices_app = typer.Typer(help="Removal notices: list and export.", invoke_without_command=True)


def _context() -> tuple[Any, Any]:
    from orbweaver.clock import clock_from_url
    from orbweaver.config import get_settings
    from orbweaver.store import open_store

    return open_store(), clock_from_url(get_settings().clock_url or None)


def notify(
    loop: bool = typer.Option(False, "--loop", help="Keep going, one pass every --every s."),
    every: float = typer.Option(30.0, "--every", help="Seconds between passes with --loop."),
) -> None:
    """Send what is due: new notices for new detections, follow-ups, escalations, retries."""
    from orbweaver.notices.runner import default_attributor, notify_pass

    store, clock = _context()
    attributor = default_attributor(clock)
    while True:
        stats = notify_pass(store, clock, attributor)
        typer.echo(
            f"notices {stats.plan.notices} (tor-only {stats.plan.tor_only}, recidivist "
            f"{stats.plan.recidivist}, unattributed {stats.plan.unattributed}); rounds "
            f"{stats.rounds}; sent {stats.delivery.sent}, retrying {stats.delivery.retried}, "
            f"failed {stats.delivery.failed}"
        )
        for error in stats.plan.errors[:10] + stats.delivery.errors[:10]:
            typer.echo(f"  {error}", err=True)
        if not loop:
            return
        time.sleep(every)


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
    """Write the X-ARF report of every message sent (or queued) to DIR."""
    from sqlalchemy import select

    from orbweaver.store.models import Outbox

    if fmt != "xarf":
        raise typer.BadParameter("only --format xarf is supported")
    store, _ = _context()
    directory.mkdir(parents=True, exist_ok=True)
    count = 0
    with store.session() as session:
        for row in session.scalars(select(Outbox).order_by(Outbox.id)):
            name = f"notice-{row.notice_id}-{row.kind}-{row.round}-{row.provider_id}.json"
            (directory / name).write_text(json.dumps(row.xarf, indent=2) + "\n")
            count += 1
    typer.echo(f"wrote {count} X-ARF reports to {directory}")


def register(app: typer.Typer) -> None:
    app.command("notify")(notify)
    app.add_typer(notices_app, name="notices")
