"""The store's one owner of UTC datetimes.

Every datetime column is a `UtcDateTime`: it takes aware datetimes in any zone (converted to UTC)
and naive ones (taken as UTC), and it holds and returns naive UTC, on SQLite (which has no zone)
and PostgreSQL (`timestamp without time zone`) alike. Assigning to a mapped attribute converts at
once, so a row's attributes read the same before and after a round trip through the database.
Stage code hands the clock's aware time straight to new rows, attributes and SELECTs. Where the
time meets values read from rows in Python (comparisons, arithmetic) or goes into an ORM UPDATE
(whose session synchronisation copies it into loaded rows without converting), it takes
`store_now(clock)`: the same instant in the rows' form.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, event
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapper
from sqlalchemy.types import TypeDecorator

from orbweaver.clock import Clock, ensure_utc


def store_time(when: datetime) -> datetime:
    """`when` as the store holds it: naive, in UTC (a naive `when` is taken as UTC already)."""
    return ensure_utc(when).replace(tzinfo=None)


def store_now(clock: Clock) -> datetime:
    """`clock`'s time as the store's columns hold it (naive UTC)."""
    return store_time(clock.now())


class UtcDateTime(TypeDecorator[datetime]):
    """A datetime column that binds any datetime as naive UTC and returns naive UTC.

    Only binds are converted: the column is `timestamp without time zone` on PostgreSQL and
    text on SQLite, both of which hand back the naive value stored, so results need no
    per-row work (reports read millions of them).
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None or value.tzinfo is None:
            return value
        return store_time(value)


def _convert_on_set(target: Any, value: Any, oldvalue: Any, initiator: Any) -> Any:
    aware = isinstance(value, datetime) and value.tzinfo is not None
    return store_time(value) if aware else value


def convert_on_assignment(base: type) -> None:
    """Make every `UtcDateTime` attribute of `base`'s mapped classes convert when assigned."""

    @event.listens_for(base, "mapper_configured", propagate=True)
    def _listen(mapper: Mapper[Any], cls: type) -> None:
        for prop in mapper.column_attrs:
            if any(isinstance(col.type, UtcDateTime) for col in prop.columns):
                event.listen(prop.class_attribute, "set", _convert_on_set, retval=True)
