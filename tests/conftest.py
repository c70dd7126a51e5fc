"""Shared fixtures: a store on SQLite and on PostgreSQL, a settable clock, test data paths."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from orbweaver.clock import SettableClock
from orbweaver.store import Store, open_store

DATA = Path(__file__).parent / "data"
PG_ADMIN_URL = os.environ.get(
    "ORBWEAVER_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    """Settings are cached per process (`get_settings`) and read from the environment, which
    tests change with monkeypatch: each test starts and ends with none cached, so a command run
    in one test never opens the store another test configured."""
    from orbweaver.config import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def screenshot_dir(tmp_path: Path) -> Path:
    """Where browser tests put their screenshots: `docs/` (committed) only when asked with
    ORBWEAVER_UPDATE_DOCS=1, so an ordinary test run never rewrites tracked files."""
    if os.environ.get("ORBWEAVER_UPDATE_DOCS") == "1":
        docs = Path(__file__).resolve().parents[1] / "docs"
        docs.mkdir(exist_ok=True)
        return docs
    return tmp_path


@pytest.fixture
def data_dir() -> Path:
    return DATA


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(datetime(2021, 3, 1, 12, 0, tzinfo=UTC))


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A throw-away PostgreSQL database for this test session."""
    name = f"orbweaver_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:  # pragma: no cover - depends on the machine
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is required for store tests: {exc}")
    url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(False)
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _fresh_pg(url: str) -> Store:
    store = open_store(url)
    with store.engine.begin() as conn:
        tables = [t for t in sa.inspect(conn).get_table_names() if t != "alembic_version"]
        if tables:  # as superuser with triggers off: append-only tables refuse TRUNCATE
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
            conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    return store


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated, empty store; every test using it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        s = open_store(f"sqlite:///{tmp_path / 'orbweaver.db'}")
    else:
        s = _fresh_pg(request.getfixturevalue("pg_database"))
    yield s
    s.dispose()


@pytest.fixture
def pg_store(pg_database: str) -> Iterator[Store]:
    """A migrated, empty PostgreSQL store, for tests that only make sense there."""
    s = _fresh_pg(pg_database)
    yield s
    s.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path / 'orbweaver.db'}")
    yield s
    s.dispose()
