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


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
