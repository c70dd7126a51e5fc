"""`orbweaver db ...`: schema migrations."""

from __future__ import annotations

import typer

db_app = typer.Typer(help="The store: migrations and housekeeping.", no_args_is_help=True)


@db_app.command("upgrade")
def upgrade(
    revision: str = typer.Argument("heads", help="Alembic revision to migrate to."),
) -> None:
    """Migrate the configured database (ORBWEAVER_DATABASE_URL) to the latest schema."""
    from orbweaver.store import open_store

    store = open_store(upgrade=False)
    store.upgrade(revision)
    typer.echo(f"migrated {store.engine.url.render_as_string(hide_password=True)} to {revision}")


@db_app.command("maintain")
def maintain(
    retention_days: float = typer.Option(
        None,
        help="Days unmatched URLs seen on hosts without detections are kept "
        "[ORBWEAVER_SEEN_RETENTION_DAYS, 90].",
    ),
    detach: bool = typer.Option(
        False, help="PostgreSQL: detach old partitions (to archive them) instead of dropping."
    ),
) -> None:
    """Housekeeping for the compact layout (issue 22): daily partitions made ahead and old ones
    dropped (PostgreSQL), seen URLs past the retention deleted, signal blocks compacted."""
    from orbweaver.roles import ProductSettings, build_clock
    from orbweaver.store import maintain as run_maintenance
    from orbweaver.store import open_store

    settings = ProductSettings.load()
    core = settings.core
    days = core.seen_retention_days if retention_days is None else retention_days
    store = open_store(core.resolved_database_url)
    done = run_maintenance(store, build_clock(settings).now(), days, detach=detach)
    typer.echo(
        f"partitions made {len(done.partitions_made)}, retired {len(done.partitions_retired)}; "
        f"seen rows deleted {done.seen_rows_deleted}, merged {done.seen_rows_merged}; "
        f"signals compacted {done.signals_read} -> {done.signals_kept}; videos compacted "
        f"{done.videos_read} -> {done.videos_kept}"
    )


vault_app = typer.Typer(
    help="The suspect vault: keys for the bytes kept encrypted at rest.", no_args_is_help=True
)


@vault_app.command("keygen")
def keygen() -> None:
    """Print a new random key for ORBWEAVER_SUSPECT_KEY (32 bytes, URL-safe base64)."""
    from orbweaver.store.vault import new_key

    typer.echo(new_key())


@vault_app.command("rekey")
def rekey() -> None:
    """Re-seal every kept suspect under ORBWEAVER_SUSPECT_KEY, opening old ones with
    ORBWEAVER_SUSPECT_RETIRED_KEY (a key being rotated out, or a passphrase from before)."""
    from orbweaver.config import Settings
    from orbweaver.store import open_store
    from orbweaver.store.vault import Vault, VaultError, rekey_suspects

    settings = Settings()
    try:
        vault = Vault(settings.suspect_key, retired=settings.suspect_retired_key)
        resealed, current = rekey_suspects(open_store(settings.resolved_database_url), vault)
    except VaultError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"re-sealed {resealed} suspects; {current} already under the current key")


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
    app.add_typer(vault_app, name="vault")
