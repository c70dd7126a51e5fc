"""`orbweaver providers [--json]`: every provider, its roles, contacts and aliases."""

from __future__ import annotations

import json
from typing import Any

import typer


def providers(
    as_json: bool = typer.Option(False, "--json", help="JSON instead of a table."),
) -> None:
    """Providers with their contact, channel, aliases (domains, networks, ASNs) and notices."""
    from sqlalchemy import func, select

    from orbweaver.store import open_store
    from orbweaver.store.models import Notice, Provider, ProviderAlias

    store = open_store()
    rows: list[dict[str, Any]] = []
    with store.session() as s:
        counts = dict(
            s.execute(select(Notice.provider_id, func.count()).group_by(Notice.provider_id)).all()
        )
        for p in s.scalars(select(Provider).order_by(Provider.name)):
            aliases: dict[str, list[str]] = {}
            for a in s.scalars(select(ProviderAlias).where(ProviderAlias.provider_id == p.id)):
                aliases.setdefault(a.kind, []).append(a.value)
            rows.append(
                {
                    "id": p.id,
                    "name": p.name,
                    "service_type": p.service_type,
                    "contact": p.webhook_url or p.abuse_email,
                    "channel": "webhook" if p.webhook_url else "smtp",
                    "asn": p.asn,
                    "aliases": aliases,
                    "notices": counts.get(p.id, 0),
                }
            )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "type", "contact", "asn", "networks", "notices")
    for r in rows:
        table.add_row(
            r["name"],
            r["service_type"],
            r["contact"] or "-",
            str(r["asn"] or ""),
            ", ".join(r["aliases"].get("network", [])),
            str(r["notices"]),
        )
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.command("providers")(providers)
