"""The store migrates on SQLite and PostgreSQL, and its event log cannot be rewritten."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from orbweaver.clock import SettableClock
from orbweaver.store import EventKind, Store, record_event
from orbweaver.store.models import Bank, Event, Media, Sighting


def test_migrations_create_every_table(store: Store) -> None:
    tables = set(sa.inspect(store.engine).get_table_names())
    assert {"media", "bank", "bank_entry", "sighting", "detection", "suspect", "event"} <= tables
    # Running the migration twice is a no-op, not an error.
    store.upgrade()


def test_sqlite_uses_wal(sqlite_store: Store) -> None:
    with sqlite_store.engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"


def test_events_are_append_only(store: Store, clock: SettableClock) -> None:
    with store.session() as session:
        record_event(session, clock, EventKind.BANK_CREATED, subject_type="bank", payload={"n": 1})
    with store.session() as session:
        event = session.scalars(sa.select(Event)).one()
        assert event.kind == "bank.created" and event.payload == {"n": 1}
    with pytest.raises(DBAPIError), store.session() as session:
        session.execute(sa.update(Event).values(kind="tampered"))
    with pytest.raises(DBAPIError), store.session() as session:
        session.execute(sa.delete(Event))
    with store.session() as session:
        assert session.scalars(sa.select(Event.kind)).all() == ["bank.created"]


def test_event_rolls_back_with_its_transaction(store: Store, clock: SettableClock) -> None:
    with pytest.raises(RuntimeError), store.session() as session:
        record_event(session, clock, EventKind.NOTICE_SENT)
        raise RuntimeError("crash before commit")
    with store.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Event)) == 0


def test_sighting_round_trip(store: Store, clock: SettableClock) -> None:
    now = clock.now().replace(tzinfo=None)
    with store.session() as session:
        media = Media(
            sha256="a" * 64, sha1="b" * 40, md5="c" * 32, size_bytes=10, first_seen_at=now
        )
        session.add(media)
        session.flush()
        session.add(
            Sighting(media_id=media.id, url="http://x.test/a.jpg", host="x.test", seen_at=now)
        )
        session.add(Bank(name="own", created_at=now))
    clock.advance(timedelta(hours=1))
    with store.session() as session:
        sighting = session.scalars(sa.select(Sighting)).one()
        assert sighting.media.sha256 == "a" * 64
        assert sighting.network == "clear"
        assert session.scalars(sa.select(Bank)).one().pdq_threshold == 31


def test_concurrent_first_migrations_do_not_collide(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Two processes opening a new store at once (two crawlers starting) both succeed."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'race.db'}"
    code = "import sys; from orbweaver.store import open_store; open_store(sys.argv[1])"
    procs = [subprocess.Popen([sys.executable, "-c", code, url]) for _ in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]


def test_migrations_match_the_models(store: Store) -> None:
    """Every model change comes with its migration: autogenerate finds nothing to do."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from orbweaver.store import include_name
    from orbweaver.store.models import Base

    # daily partitions (PostgreSQL) are made by `db maintain`, not declared by the models
    opts = {"include_name": include_name}
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts=opts), Base.metadata)
    assert diff == []
