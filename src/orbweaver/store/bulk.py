"""Bulk inserts below the ORM's per-row work: many rows of one table in few statements.

SQLAlchemy's executemany processes every parameter of every row (a datetime's bind processor,
a JSON column's encoder) and builds each row's parameter dict; for a page of a thousand
exchange entries that is most of the store's cost. Here the caller gives plain tuples whose
values are already what the driver takes (`driver_values` turns a column's Python value into
that once, for the constants of a page), and:

- `insert_rows` on PostgreSQL (psycopg 3) is one `COPY … FROM STDIN`; elsewhere one
  executemany of the driver's own statement;
- `insert_returning` on PostgreSQL is one `INSERT … SELECT … FROM unnest(…) RETURNING`, a
  parameter an array a column (a long multi-row VALUES costs psycopg more to parse than the
  server to run); on SQLite multi-row `INSERT … VALUES (…), (…) … RETURNING` (≥ 3.35),
  chunked under its parameter limit;
- `one_of` is `column IN (…)` on SQLite, `column = ANY(array)` on PostgreSQL (one parameter,
  not a thousand).

JSON columns take their JSON text (`json.dumps`), on every dialect. Everything runs on the
session's connection, in its transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

_MAX_PARAMS = 30_000  # SQLite allows 32,766 parameters a statement, PostgreSQL 65,535


def driver_value(session: Session, column: sa.Column[Any], value: Any) -> Any:
    """`value` as the driver takes it for `column` (its type's bind processing, done once;
    not for JSON columns: they take their text)."""
    dialect = session.get_bind().dialect
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return process(value) if process is not None else value


def insert_rows(
    session: Session, table: sa.Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert `rows` (tuples in `columns`' order, driver values) into `table`."""
    if not rows:
        return
    connection = session.connection()
    names = ", ".join(columns)
    if connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg":
        raw: Any = connection.connection.driver_connection
        with raw.cursor() as cursor, cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    mark = _mark(connection.dialect)
    marks = ", ".join([mark] * len(columns))
    connection.exec_driver_sql(
        f"INSERT INTO {table.name} ({names}) VALUES ({marks})", [tuple(r) for r in rows]
    )


def insert_returning(
    session: Session,
    table: sa.Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    returning: Sequence[str],
) -> list[tuple[Any, ...]]:
    """Insert `rows` (driver values) with multi-row VALUES; the `returning` columns of each."""
    if not rows:
        return []
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        return _unnest_returning(connection, table, columns, rows, returning)
    mark = _mark(connection.dialect)
    one = "(" + ", ".join([mark] * len(columns)) + ")"
    head = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES "
    tail = f" RETURNING {', '.join(returning)}"
    per = max(1, _MAX_PARAMS // len(columns))
    out: list[tuple[Any, ...]] = []
    for i in range(0, len(rows), per):
        chunk = rows[i : i + per]
        params = tuple(v for row in chunk for v in row)
        sql = head + ", ".join([one] * len(chunk)) + tail
        out.extend(tuple(r) for r in connection.exec_driver_sql(sql, params))
    return out


def _unnest_returning(
    connection: sa.Connection,
    table: sa.Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    returning: Sequence[str],
) -> list[tuple[Any, ...]]:
    dialect = connection.dialect
    types = [table.c[name].type.compile(dialect=dialect) for name in columns]
    arrays = [
        "%s::text[]" if isinstance(table.c[name].type, sa.JSON) else f"%s::{kind}[]"
        for name, kind in zip(columns, types, strict=True)
    ]
    picks = [
        f"u{i}::{kind}" if isinstance(table.c[name].type, sa.JSON) else f"u{i}"
        for i, (name, kind) in enumerate(zip(columns, types, strict=True))
    ]
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "
        f"SELECT {', '.join(picks)} FROM unnest({', '.join(arrays)}) "
        f"AS u({', '.join(f'u{i}' for i in range(len(columns)))}) "
        f"RETURNING {', '.join(returning)}"
    )
    params = tuple([row[i] for row in rows] for i in range(len(columns)))
    return [tuple(r) for r in connection.exec_driver_sql(sql, params)]


def one_of(session: Session, column: Any, values: Sequence[Any]) -> sa.ColumnElement[bool]:
    """`column IN values`, as one array parameter on PostgreSQL."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == sa.any_(sa.bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(list(values))


def _mark(dialect: sa.Dialect) -> str:
    return "?" if dialect.paramstyle == "qmark" else "%s"
