"""The store's UTC datetime column: any datetime in, the same instant back as naive UTC, on
SQLite and PostgreSQL; assignments convert at once; queries compare instants, not wall times."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa

from orbweaver.clock import SettableClock
from orbweaver.store import EventKind, Store, UtcDateTime, record_event, store_now, store_time
from orbweaver.store.models import Bank, BankEntry, Base, Event

PLUS5 = timezone(timedelta(hours=5))
NOON_UTC = datetime(2021, 3, 1, 12, 0, 0)


def test_aware_non_utc_goes_in_and_the_same_instant_comes_out(store: Store) -> None:
    with store.session() as session:
        session.add(Bank(name="b", created_at=datetime(2021, 3, 1, 17, 0, tzinfo=PLUS5)))
    with store.session() as session:
        assert session.scalars(sa.select(Bank.created_at)).one() == NOON_UTC


def test_naive_is_taken_as_utc(store: Store) -> None:
    with store.session() as session:
        session.add(Bank(name="b", created_at=NOON_UTC))
    with store.session() as session:
        got = session.scalars(sa.select(Bank.created_at)).one()
    assert got == NOON_UTC and got.tzinfo is None


def test_assignment_converts_before_any_round_trip(store: Store) -> None:
    """Sessions keep rows after commit: the attribute must read as the database will."""
    with store.session() as session:
        bank = Bank(name="b", created_at=datetime(2021, 3, 1, 17, 0, tzinfo=PLUS5))
        session.add(bank)
        assert bank.created_at == NOON_UTC and bank.created_at.tzinfo is None
        bank.created_at = datetime(2021, 3, 1, 14, 0, tzinfo=PLUS5)
        assert bank.created_at == datetime(2021, 3, 1, 9, 0)
    assert bank.created_at == datetime(2021, 3, 1, 9, 0)


def test_queries_compare_instants(store: Store) -> None:
    with store.session() as session:
        session.add_all(
            [
                Bank(name="early", created_at=NOON_UTC),
                Bank(name="late", created_at=NOON_UTC.replace(hour=13)),
            ]
        )
    # 17:30+05:00 is 12:30 UTC: only "early" is before it, though 17:30 > 13:00 as wall times.
    cut = datetime(2021, 3, 1, 17, 30, tzinfo=PLUS5)
    with store.session() as session:
        before = session.scalars(sa.select(Bank.name).where(Bank.created_at < cut)).all()
        assert before == ["early"]
        session.execute(sa.update(Bank).where(Bank.name == "late").values(created_at=cut))
    with store.session() as session:
        late = session.scalars(sa.select(Bank.created_at).where(Bank.name == "late")).one()
    assert late == datetime(2021, 3, 1, 12, 30)


def test_bulk_inserts_convert(store: Store) -> None:
    with store.session() as session:
        bank = Bank(name="b", created_at=NOON_UTC)
        session.add(bank)
        session.flush()
        session.execute(
            sa.insert(BankEntry),
            [
                {
                    "bank_id": bank.id,
                    "signal_type": "sha256",
                    "signal": "a" * 64,
                    "category": "csam_prepubescent",
                    "source": "test",
                    "added_at": datetime(2021, 3, 1, 17, 0, tzinfo=PLUS5),
                }
            ],
        )
    with store.session() as session:
        assert session.scalars(sa.select(BankEntry.added_at)).one() == NOON_UTC


def test_event_time_is_the_clock_in_store_form(store: Store) -> None:
    clock = SettableClock(datetime(2021, 3, 1, 12, 0, tzinfo=UTC))
    with store.session() as session:
        row = record_event(session, clock, EventKind.BANK_CREATED)
        assert row.at == NOON_UTC == store_now(clock)
    with store.session() as session:
        assert session.scalars(sa.select(Event.at)).one() == NOON_UTC


def test_store_time() -> None:
    assert store_time(datetime(2021, 3, 1, 17, 0, tzinfo=PLUS5)) == NOON_UTC
    assert store_time(NOON_UTC) == NOON_UTC


def test_every_datetime_column_is_the_utc_type() -> None:
    plain = [
        f"{table.name}.{column.name}"
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, sa.DateTime) and not isinstance(column.type, UtcDateTime)
    ]
    assert plain == []
    assert isinstance(Bank.__table__.c.created_at.type, UtcDateTime)


def test_stage_code_leaves_time_zones_to_the_store() -> None:
    """No stage strips a time zone itself: the store's type (and `store_now`) own that."""
    src = Path(__file__).resolve().parents[2] / "src" / "orbweaver"
    owner = src / "store" / "times.py"
    offenders = [
        f"{path.relative_to(src)}:{n}"
        for path in sorted(src.rglob("*.py"))
        if path != owner
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"replace\(tzinfo=None\)|def _naive\(", line)
    ]
    assert offenders == []
