"""Time partitions of the high-volume tables on PostgreSQL, and `orbweaver db maintain` (issue 22).

`crawl_seen` is partitioned by day (native range partitioning on `seen_at`). A default partition
takes rows no daily partition covers, so a write never fails for want of one; `maintain`
creates the next days' partitions ahead, drops (or detaches, for an archive) the ones past the
retention, sweeps the default partition, and compacts the day's signal blocks. On SQLite the
same retention is a DELETE.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from orbweaver.store.compact import compact_signals, compact_videos, expire_seen, merge_seen
from orbweaver.store.db import Store
from orbweaver.store.times import store_time

PARTITIONED = {"crawl_seen": "seen_at"}
_DAILY = re.compile(r"^(?P<table>[a-z_]+)_p(?P<day>\d{8})$")
_DEFAULT = "_pdefault"


def is_partition(name: str | None) -> bool:
    """Partitions are made by `maintain`, not by the models (autogenerate leaves them alone)."""
    if not name:
        return False
    if name.endswith(_DEFAULT) and name[: -len(_DEFAULT)] in PARTITIONED:
        return True
    match = _DAILY.match(name)
    return bool(match and match["table"] in PARTITIONED)


def include_name(name: str | None, type_: str, _parents: object) -> bool:
    """Alembic's `include_name`: compare tables and their indexes, never partitions."""
    return not (type_ == "table" and is_partition(name))


def partition_name(table: str, day: date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def ensure_partitions(conn: Connection, today: date, ahead_days: int = 7) -> list[str]:
    """The default partition and one a day from `today` for `ahead_days`. A day whose rows
    already went to the default partition stays there (swept by the retention)."""
    made = []
    for table, column in PARTITIONED.items():
        conn.execute(
            sa.text(f"CREATE TABLE IF NOT EXISTS {table}{_DEFAULT} PARTITION OF {table} DEFAULT")
        )
        existing = set(_partitions(conn, table))
        for offset in range(ahead_days + 1):
            day = today + timedelta(days=offset)
            name = partition_name(table, day)
            if name in existing:
                continue
            lo, hi = datetime.combine(day, datetime.min.time()), None
            hi = lo + timedelta(days=1)
            taken = conn.scalar(
                sa.text(
                    f"SELECT 1 FROM {table}{_DEFAULT} WHERE {column} >= :lo AND {column} < :hi "
                    "LIMIT 1"
                ),
                {"lo": lo, "hi": hi},
            )
            if taken:
                continue
            conn.execute(
                sa.text(
                    f"CREATE TABLE {name} PARTITION OF {table} "
                    f"FOR VALUES FROM ('{lo.isoformat()}') TO ('{hi.isoformat()}')"
                )
            )
            made.append(name)
    return made


def _partitions(conn: Connection, table: str) -> list[str]:
    return list(
        conn.scalars(
            sa.text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :t"
            ),
            {"t": table},
        )
    )


def retire_partitions(conn: Connection, before: date, *, detach: bool = False) -> list[str]:
    """Drop (or detach, to archive with pg_dump) daily partitions wholly before `before`."""
    gone = []
    for table in PARTITIONED:
        for name in sorted(_partitions(conn, table)):
            match = _DAILY.match(name)
            if not match:
                continue
            day = datetime.strptime(match["day"], "%Y%m%d").date()
            if day + timedelta(days=1) > before:
                continue
            if detach:
                conn.execute(sa.text(f"ALTER TABLE {table} DETACH PARTITION {name}"))
            else:
                conn.execute(sa.text(f"DROP TABLE {name}"))
            gone.append(name)
    return gone


@dataclass
class Maintenance:
    """What one `maintain` did."""

    partitions_made: list[str]
    partitions_retired: list[str]
    seen_rows_deleted: int
    seen_rows_merged: int
    signals_read: int
    signals_kept: int
    signal_blocks_read: int = 0
    videos_read: int = 0
    videos_kept: int = 0


def maintain(
    store: Store, now: datetime, retention_days: float, *, detach: bool = False
) -> Maintenance:
    """Retention for seen URLs, partitions ahead, and signal blocks compacted (all written
    before `now`)."""
    horizon = store_time(now) - timedelta(days=retention_days)
    made: list[str] = []
    retired: list[str] = []
    if store.dialect == "postgresql":
        with store.engine.begin() as conn:
            made = ensure_partitions(conn, store_time(now).date())
            retired = retire_partitions(conn, horizon.date(), detach=detach)
    with store.session() as session:
        deleted = expire_seen(session, horizon)
        merged = merge_seen(session, now)
        done = compact_signals(session, now)
        videos_read, videos_kept = compact_videos(session, now)
    return Maintenance(
        made,
        retired,
        deleted,
        merged,
        done.read,
        done.kept,
        done.blocks_read,
        videos_read,
        videos_kept,
    )
