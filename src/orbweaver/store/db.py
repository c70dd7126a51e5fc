"""Engines and sessions for SQLite (embedded default, WAL) and PostgreSQL (production)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any constant unique to orbweaver: the advisory lock that serialises migrations on PostgreSQL.
_MIGRATION_LOCK_KEY = 0x0B_3EA7E2


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (the Shield API, reports) run while the crawler writes.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite files get their directory created and WAL switched on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = str(parsed.set(drivername="postgresql+psycopg"))
    return create_engine(url, pool_pre_ping=True)


class Store:
    """One database: its engine, a session factory, and its migrations."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with self.sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def upgrade(self, revision: str = "heads") -> None:
        """Run Alembic migrations up to `revision` (every branch head by default: stages add
        their tables on branches of their own, so they can be developed side by side)."""
        from alembic import command

        with self._migration_lock():
            command.upgrade(alembic_config(self.url), revision)

    @contextmanager
    def _migration_lock(self) -> Iterator[None]:
        """Serialise migrations across processes: two crawlers starting at once on one store
        must not both try to create the same tables."""
        parsed = make_url(self.url)
        if self.dialect == "postgresql":
            with self.engine.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
                try:
                    yield
                finally:
                    conn.execute(
                        text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                    )
                    conn.commit()
        elif parsed.database and parsed.database != ":memory:":
            import fcntl

            with open(f"{parsed.database}.migrate-lock", "a+") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
        else:
            yield

    def try_lock(self, session: Session, name: str) -> bool:
        """Whether this session's transaction now holds the lock called `name`, without waiting.

        For work that two processes must not do at once (planning notices, turning suspects
        into queue items): the one that gets False skips it, the other does it. On PostgreSQL
        a transaction-level advisory lock (released at commit or rollback); on SQLite always
        True, since it has one writer at a time anyway."""
        if self.dialect != "postgresql":
            return True
        digest = hashlib.sha256(f"orbweaver:{name}".encode()).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)
        return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key}))

    def ping(self) -> None:
        """One round trip to the database (raises when it is unreachable)."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def schema_revisions(self) -> tuple[set[str], set[str]]:
        """(the revisions the database is at, the heads this code's migrations end at)."""
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
        return current, set(script_heads())

    def schema_current(self) -> bool:
        """True when the database is at every head of this code's migrations: a process of
        a newer release started before `orbweaver db upgrade` ran gets False, not errors."""
        current, heads = self.schema_revisions()
        return current == heads

    def dispose(self) -> None:
        self.engine.dispose()


@lru_cache(maxsize=1)
def script_heads() -> tuple[str, ...]:
    """The heads of the migrations shipped with this code (read once per process)."""
    from alembic.script import ScriptDirectory

    return tuple(sorted(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()))


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def open_store(url: str | None = None, *, upgrade: bool = True) -> Store:
    """Open the configured store, migrating it to the latest schema unless told not to."""
    if url is None:
        from orbweaver.config import get_settings

        url = get_settings().resolved_database_url
    store = Store(url)
    if upgrade:
        store.upgrade()
    return store
