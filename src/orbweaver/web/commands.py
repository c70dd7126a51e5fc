"""`orbweaver serve` and `orbweaver apikey ...`: run the web app, issue and revoke API keys."""

from __future__ import annotations

import typer

apikey_app = typer.Typer(help="API keys for the Shield API (and other machine clients).")


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def serve(
    host: str = typer.Option(None, help="Address to listen on [default: ORBWEAVER_SERVE_HOST]."),
    port: int = typer.Option(None, help="Port to listen on [default: ORBWEAVER_SERVE_PORT]."),
    workers: int = typer.Option(
        None, help="Worker processes, each with its own match index [default: 1]."
    ),
    log_level: str = typer.Option("info", help="uvicorn log level."),
) -> None:
    """Serve the web app (Shield API, console, /livez, /readyz, /metrics) with uvicorn."""
    from orbweaver.roles import ProductSettings, build_store, refuse_plain_http_cookies, serve_app

    s = ProductSettings.load()
    run = s.run
    try:
        refuse_plain_http_cookies(s, host or run.serve_host)
    except ValueError as exc:
        _fail(str(exc))
    # Migrate once here (unless a migration job does it), so workers starting side by side
    # never race on the schema.
    build_store(s).dispose()
    serve_app(
        s,
        host or run.serve_host,
        port or run.serve_port,
        workers or run.serve_workers,
        log_level,
    )


@apikey_app.command("create")
def create(
    name: str = typer.Argument(help="Who the key is for, e.g. the provider's name."),
    scope: list[str] = typer.Option(["shield"], help="What the key may use (repeatable)."),
    rate_per_minute: int | None = typer.Option(None, help="Override the default rate limit."),
    burst: int | None = typer.Option(None, help="Override the default burst."),
) -> None:
    """Issue a key; prints USERNAME:SECRET (the secret is shown this once, stored hashed)."""
    from orbweaver.access import ApiKeyError, create_client
    from orbweaver.clock import SystemClock
    from orbweaver.store import open_store

    try:
        key = create_client(
            open_store(),
            SystemClock(),
            name,
            scopes=tuple(scope),
            rate_per_minute=rate_per_minute,
            rate_burst=burst,
            actor="cli",
        )
    except ApiKeyError as exc:
        _fail(str(exc))
    typer.echo(key)


@apikey_app.command("list")
def list_() -> None:
    """List API clients (never their secrets)."""
    from rich.console import Console
    from rich.table import Table

    from orbweaver.access import list_clients
    from orbweaver.store import open_store

    table = Table("name", "username", "scopes", "enabled", "created", "last used")
    for c in list_clients(open_store()):
        table.add_row(
            c.name,
            c.username,
            ",".join(c.scopes),
            "yes" if c.enabled else "no",
            f"{c.created_at:%Y-%m-%d %H:%M}",
            f"{c.last_used_at:%Y-%m-%d %H:%M}" if c.last_used_at else "never",
        )
    Console().print(table)


@apikey_app.command("revoke")
def revoke(name: str = typer.Argument(help="Client name or username.")) -> None:
    """Disable a key for good; workers stop accepting it within a few seconds."""
    from orbweaver.access import ApiKeyError, revoke_client
    from orbweaver.clock import SystemClock
    from orbweaver.store import open_store

    try:
        revoke_client(open_store(), SystemClock(), name, actor="cli")
    except ApiKeyError as exc:
        _fail(str(exc))
    typer.echo(f"revoked {name}")


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root app."""
    app.command("serve")(serve)
    app.add_typer(apikey_app, name="apikey")
