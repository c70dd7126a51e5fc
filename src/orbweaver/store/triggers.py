"""Append-only tables: database triggers refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL),
so no code path (nor a route, nor a bug) can rewrite the event log, the audit log, assessments
or verdicts. SQLite has no TRUNCATE; its `DELETE FROM t` is refused like any other delete."""

from __future__ import annotations

from alembic import op


def append_only(table: str) -> None:
    """Create the refusing triggers on `table`, for PostgreSQL or SQLite (inside a migration)."""
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION orbweaver_append_only() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END; $$ LANGUAGE plpgsql"
        )
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION orbweaver_append_only()"
        )
        no_truncate(table)
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )


def no_truncate(table: str) -> None:
    """PostgreSQL: refuse TRUNCATE of `table`, whoever asks (the owner too; only a superuser
    in `session_replication_role = replica`, i.e. with triggers off, gets past)."""
    if op.get_context().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION orbweaver_append_only()"
        )
