"""Banks: create, list, enable/disable, import and export hash lists.

Every change of a bank is an event, so the audit log can answer who changed a list and when.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from orbweaver.categories import CATEGORIES
from orbweaver.clock import Clock
from orbweaver.signals import signal_types
from orbweaver.store import (
    EventKind,
    Store,
    driver_value,
    insert_returning,
    one_of,
    record_event,
)
from orbweaver.store.models import Bank, BankEntry
from orbweaver.untrusted import csv_row, csv_uncell

CSV_HEADER = ("signal_type", "signal", "category", "source")
_BATCH = 5000


class BankError(ValueError):
    """A bank operation that cannot be done, with a message fit for the operator."""


@dataclass
class ImportReport:
    """What an import did: rows added, rows already present, and rejected rows by line."""

    added: int = 0
    duplicates: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    after_entry: int = 0
    """The newest entry id before the import: the new entries are those above it
    (`match_new_entries(after_entry=...)`)."""


def normalise_signal(signal_type: str, signal: str) -> str:
    """The value in its type's canonical form (the registry's `normalize`: lower-case hex of the
    right length for the hashes), or BankError saying what is wrong."""
    known = signal_types()
    kind = known.get(signal_type)
    if kind is None:
        raise BankError(f"unknown signal_type {signal_type!r} (one of {', '.join(known)})")
    try:
        return kind.normalize(signal)
    except ValueError as exc:
        raise BankError(str(exc)) from None


def create_bank(
    store: Store,
    clock: Clock,
    name: str,
    *,
    threshold: int = 31,
    description: str = "",
    kind: str = "positive",
    actor: str = "system",
) -> Bank:
    """A new bank; `kind` "negative" makes it an allow-list (its matches suppress positive
    ones)."""
    if not name.strip():
        raise BankError("a bank needs a name")
    if kind not in ("positive", "negative"):
        raise BankError(f"kind must be positive or negative, got {kind!r}")
    if not 0 <= threshold <= 256:
        raise BankError(f"threshold must be between 0 and 256, got {threshold}")
    with store.session() as session:
        if session.scalar(sa.select(Bank.id).where(Bank.name == name)) is not None:
            raise BankError(f"bank {name!r} already exists")
        bank = Bank(
            name=name,
            pdq_threshold=threshold,
            description=description,
            enabled=True,
            kind=kind,
            distances={},
            created_at=clock.now(),
        )
        session.add(bank)
        session.flush()
        record_event(
            session,
            clock,
            EventKind.BANK_CREATED,
            subject_type="bank",
            subject_id=bank.id,
            actor=actor,
            payload={"name": name, "threshold": threshold, "kind": kind},
        )
    return bank


def get_bank(session: Session, name: str) -> Bank:
    bank = session.scalar(sa.select(Bank).where(Bank.name == name))
    if bank is None:
        raise BankError(f"no bank named {name!r}")
    return bank


def ensure_bank(store: Store, clock: Clock, name: str, *, threshold: int = 31) -> Bank:
    """The bank called `name`, created on first use (for the hotline's own list)."""
    with store.session() as session:
        bank = session.scalar(sa.select(Bank).where(Bank.name == name))
    return bank if bank is not None else create_bank(store, clock, name, threshold=threshold)


@dataclass(frozen=True)
class BankSummary:
    name: str
    enabled: bool
    threshold: int
    entries: int


def list_banks(store: Store) -> list[BankSummary]:
    counts = (
        sa.select(BankEntry.bank_id, sa.func.count().label("n"))
        .where(BankEntry.removed_at.is_(None))
        .group_by(BankEntry.bank_id)
        .subquery()
    )
    query = (
        sa.select(Bank.name, Bank.enabled, Bank.pdq_threshold, sa.func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.bank_id == Bank.id)
        .order_by(Bank.name)
    )
    with store.session() as session:
        return [BankSummary(*row) for row in session.execute(query)]


def set_enabled(
    store: Store, clock: Clock, name: str, enabled: bool, *, actor: str = "system"
) -> None:
    with store.session() as session:
        bank = get_bank(session, name)
        bank.enabled = enabled
        record_event(
            session,
            clock,
            EventKind.BANK_ENABLED if enabled else EventKind.BANK_DISABLED,
            subject_type="bank",
            subject_id=bank.id,
            actor=actor,
        )


def set_threshold(
    store: Store, clock: Clock, name: str, threshold: int, *, actor: str = "system"
) -> None:
    if not 0 <= threshold <= 256:
        raise BankError(f"threshold must be between 0 and 256, got {threshold}")
    with store.session() as session:
        bank = get_bank(session, name)
        bank.pdq_threshold = threshold
        record_event(
            session,
            clock,
            EventKind.BANK_THRESHOLD_CHANGED,
            subject_type="bank",
            subject_id=bank.id,
            actor=actor,
            payload={"threshold": threshold},
        )


@dataclass(frozen=True)
class EntryRow:
    signal_type: str
    signal: str
    category: str
    source: str
    member: str = ""
    """Who shared it at its source (an exchange's member), when it came from elsewhere."""
    tags: tuple[str, ...] = ()
    """Its source's labels: an exchange's classification, a list's columns we do not map."""


MAX_CSV_FIELD = 4096
"""Longest cell a bank CSV may hold: a hash is at most a few hundred characters, a source a
line of text; a longer cell is a broken or hostile line, reported and skipped."""


def parse_csv(stream: TextIO, report: ImportReport) -> Iterator[EntryRow]:
    """Valid rows of a bank CSV; malformed ones are noted in `report` by line and skipped.

    Each line is read on its own: a bank row never spans lines, so a stray quote spoils its
    own line only, not the rest of the file. A line the csv module cannot read, or with a cell
    over MAX_CSV_FIELD, is one error, not the end of the import (csv.Error used to escape and
    roll back every valid row with it). A UTF-8 byte-order mark (spreadsheets write one) is
    ignored."""
    lines = enumerate(_bounded_lines(stream), start=1)
    first = next(lines, None)
    if first is None:
        return
    try:
        header = _row(first[1])
    except (csv.Error, BankError) as exc:
        raise BankError(f"line 1: unreadable header: {exc}") from exc
    if header:
        header[0] = header[0].removeprefix("\ufeff")
    if tuple(h.strip().lower() for h in header[:4]) != CSV_HEADER:
        shown = ",".join(header)[:200]
        raise BankError(f"line 1: header must be {','.join(CSV_HEADER)}, got {shown}")
    for number, line in lines:
        try:
            row = _row(line)
            if not row or all(not cell.strip() for cell in row):
                continue
            yield _parse_row(row)
        except csv.Error as exc:
            report.errors.append((number, f"unreadable line: {exc}"))
        except BankError as exc:
            report.errors.append((number, str(exc)))


def _bounded_lines(stream: TextIO) -> Iterator[str]:
    """The stream's lines, each cut at a bound (a 1 GB line never sits in memory whole); an
    over-long line comes out as one over-long cell, which `_row` refuses."""
    bound = 4 * MAX_CSV_FIELD + 64
    while True:
        line = stream.readline(bound)
        if not line:
            return
        if len(line) == bound and not line.endswith("\n"):
            rest = line
            while rest and not rest.endswith("\n"):  # skip what is left of the line
                rest = stream.readline(bound)
            yield "x" * (MAX_CSV_FIELD + 1) + "\n"  # stands for the over-long line
            continue
        yield line


def _row(line: str) -> list[str]:
    row = next(csv.reader([line]), [])
    if any(len(cell) > MAX_CSV_FIELD for cell in row):
        raise BankError(f"a cell longer than {MAX_CSV_FIELD} characters")
    return row


def _parse_row(row: list[str]) -> EntryRow:
    if len(row) < 3:
        raise BankError(f"expected 4 columns, got {len(row)}")
    signal_type = row[0].strip().lower()
    signal = normalise_signal(signal_type, row[1])
    category = row[2].strip()
    if category not in CATEGORIES:
        raise BankError(f"unknown category {category!r} (one of {', '.join(CATEGORIES)})")
    source = csv_uncell(row[3].strip()) if len(row) > 3 else ""
    return EntryRow(signal_type, signal, category, source)


def add_entries(
    session: Session, bank_id: int, rows: Iterable[EntryRow], clock: Clock
) -> tuple[int, int]:
    """Insert rows not already in the bank; returns (added, duplicates). Idempotent."""
    now = clock.now()
    added = duplicates = 0
    batch: dict[tuple[str, str], EntryRow] = {}
    for row in rows:
        key = (row.signal_type, row.signal)
        if key in batch:
            duplicates += 1
            continue
        batch[key] = row
        if len(batch) >= _BATCH:
            n = _insert_batch(session, bank_id, batch, now)
            added, duplicates = added + n, duplicates + len(batch) - n
            batch = {}
    if batch:
        n = _insert_batch(session, bank_id, batch, now)
        added, duplicates = added + n, duplicates + len(batch) - n
    return added, duplicates


_ENTRY_COLUMNS = (
    "bank_id",
    "signal_type",
    "signal",
    "category",
    "source",
    "member",
    "tags",
    "added_at",
)
EntryIds = dict[tuple[str, str], tuple[int, Any]]
"""(signal type, signal) → (bank entry id, its `removed_at`)."""


def add_entries_ids(
    session: Session, bank_id: int, rows: Iterable[EntryRow], clock: Clock
) -> tuple[int, EntryIds]:
    """`add_entries` for a caller that needs every row's entry id too (an exchange's page):
    one lookup of the rows already in the bank, the others inserted with their ids returned
    (`INSERT … RETURNING`, in multi-row statements): two statements a batch where reading
    the ids back after the insert took three. Returns (added, ids of every row)."""
    now = clock.now()
    added = 0
    ids: EntryIds = {}
    batch: dict[tuple[str, str], EntryRow] = {}
    for row in rows:
        batch.setdefault((row.signal_type, row.signal), row)
        if len(batch) >= _BATCH:
            added += _insert_batch_ids(session, bank_id, batch, now, ids)
            batch = {}
    if batch:
        added += _insert_batch_ids(session, bank_id, batch, now, ids)
    return added, ids


# The lookups of a batch's signals name no bank in SQL: SQLite's planner, without statistics,
# prefers the index on `bank_id` (every entry of the bank, read for each batch: a fetch or an
# import quadratic in the bank's size) to the one on `signal`; the bank is checked here.


def _insert_batch_ids(
    session: Session,
    bank_id: int,
    batch: dict[tuple[str, str], EntryRow],
    now: object,
    ids: EntryIds,
) -> int:
    for entry_id, of_bank, signal_type, signal, removed in session.execute(
        sa.select(
            BankEntry.id,
            BankEntry.bank_id,
            BankEntry.signal_type,
            BankEntry.signal,
            BankEntry.removed_at,
        ).where(one_of(session, BankEntry.signal, [s for _, s in batch]))
    ):
        if of_bank == bank_id and (signal_type, signal) in batch:
            ids[(signal_type, signal)] = (entry_id, removed)
    table = cast(sa.Table, BankEntry.__table__)
    added_at = driver_value(session, table.c.added_at, now)
    tags: dict[tuple[str, ...], Any] = {}
    fresh = [
        (
            bank_id,
            row.signal_type,
            row.signal,
            row.category,
            row.source,
            row.member,
            tags[row.tags]
            if row.tags in tags
            else tags.setdefault(row.tags, json.dumps(list(row.tags))),
            added_at,
        )
        for key, row in batch.items()
        if key not in ids
    ]
    returned = insert_returning(
        session, table, _ENTRY_COLUMNS, fresh, ("id", "signal_type", "signal")
    )
    for entry_id, signal_type, signal in returned:
        ids[(signal_type, signal)] = (entry_id, None)
    return len(fresh)


def _insert_batch(
    session: Session, bank_id: int, batch: dict[tuple[str, str], EntryRow], now: object
) -> int:
    existing: set[tuple[str, str]] = {
        (signal_type, signal)
        for of_bank, signal_type, signal in session.execute(
            sa.select(BankEntry.bank_id, BankEntry.signal_type, BankEntry.signal).where(
                one_of(session, BankEntry.signal, [signal for _, signal in batch])
            )
        )
        if of_bank == bank_id
    }
    fresh = [
        {
            "bank_id": bank_id,
            "signal_type": row.signal_type,
            "signal": row.signal,
            "category": row.category,
            "source": row.source,
            "member": row.member,
            "tags": list(row.tags),
            "added_at": now,
        }
        for key, row in batch.items()
        if key not in existing
    ]
    if fresh:
        session.execute(sa.insert(cast(sa.Table, BankEntry.__table__)), fresh)
    return len(fresh)


def import_csv(
    store: Store, clock: Clock, name: str, stream: TextIO, *, actor: str = "system"
) -> ImportReport:
    """Import a bank CSV into an existing bank; valid rows land even when others are bad."""
    return import_rows(store, clock, name, lambda report: parse_csv(stream, report), actor=actor)


def import_rows(
    store: Store,
    clock: Clock,
    name: str,
    rows_of: Callable[[ImportReport], Iterable[EntryRow]],
    *,
    actor: str = "system",
) -> ImportReport:
    """The one import path of every list format: the rows a parser yields (its bad lines in
    the report) land in an existing bank, recorded as `bank.imported`, with the newest entry id
    before them kept so retroactive matching reads only what arrived (`report.after_entry`)."""
    report = ImportReport()
    with store.session() as session:
        bank = get_bank(session, name)
        report.after_entry = session.scalar(sa.select(sa.func.max(BankEntry.id))) or 0
        added, dups = add_entries(session, bank.id, rows_of(report), clock)
        report.added, report.duplicates = added, dups
        record_event(
            session,
            clock,
            EventKind.BANK_IMPORTED,
            subject_type="bank",
            subject_id=bank.id,
            actor=actor,
            payload={"added": added, "duplicates": dups, "rejected": len(report.errors)},
        )
    return report


def export_csv(store: Store, name: str, out: TextIO) -> int:
    """Write the bank as CSV (the import format); returns the number of entries written.

    Sources are other hotlines' free text: a cell a spreadsheet would run as a formula is
    neutralised (`orbweaver.untrusted.csv_cell`), and the import undoes that."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    count = 0
    with store.session() as session:
        bank = get_bank(session, name)
        rows = session.execute(
            sa.select(BankEntry.signal_type, BankEntry.signal, BankEntry.category, BankEntry.source)
            .where(BankEntry.bank_id == bank.id, BankEntry.removed_at.is_(None))
            .order_by(BankEntry.id)
            .execution_options(yield_per=10_000)
        )
        for row in rows:
            writer.writerow(csv_row(row))
            count += 1
    return count


def export_csv_text(store: Store, name: str) -> str:
    buffer = io.StringIO()
    export_csv(store, name, buffer)
    return buffer.getvalue()
