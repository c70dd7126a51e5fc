"""Banks: import/export round trip, bad rows by line number, idempotent re-import, events."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from orbweaver.banks import (
    BankError,
    create_bank,
    export_csv,
    import_csv,
    list_banks,
    set_enabled,
)
from orbweaver.banks.service import export_csv_text, normalise_signal
from orbweaver.clock import SettableClock
from orbweaver.store import Store
from orbweaver.store.models import BankEntry, Event

SHA256 = "ab" * 32
PDQ = "f8f8f0cce0f4e84d0e370a22028f67f0b36e2ed596623e1d33e6339c4e9c9b22"

GOOD_AND_BAD = f"""signal_type,signal,category,source
sha256,{SHA256},csam_prepubescent,hotline-a
pdq,{PDQ.upper()},csam_postpubescent,hotline-a
md5,{"0" * 31},csam_prepubescent,hotline-a
crc32,deadbeef,csam_prepubescent,hotline-a
sha1,{"1" * 40},not_a_category,hotline-a
sha1
sha1,{"2" * 40},harmful_abusive,
"""


def test_import_keeps_valid_rows_and_reports_bad_ones(store: Store, clock: SettableClock) -> None:
    create_bank(store, clock, "imported", threshold=20)
    report = import_csv(store, clock, "imported", io.StringIO(GOOD_AND_BAD))
    assert report.added == 3
    assert [line for line, _ in report.errors] == [4, 5, 6, 7]
    assert "32 hex" in report.errors[0][1]
    assert "unknown signal_type" in report.errors[1][1]
    assert "unknown category" in report.errors[2][1]
    # Re-importing the same file adds nothing twice.
    again = import_csv(store, clock, "imported", io.StringIO(GOOD_AND_BAD))
    assert (again.added, again.duplicates) == (0, 3)
    with store.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(BankEntry)) == 3
        kinds = session.scalars(sa.select(Event.kind).order_by(Event.id)).all()
    assert kinds == ["bank.created", "bank.imported", "bank.imported"]


def test_export_round_trips(store: Store, clock: SettableClock) -> None:
    create_bank(store, clock, "a")
    import_csv(store, clock, "a", io.StringIO(GOOD_AND_BAD))
    text = export_csv_text(store, "a")
    lines = text.strip().splitlines()
    assert lines[0] == "signal_type,signal,category,source"
    assert f"pdq,{PDQ},csam_postpubescent,hotline-a" in lines  # normalised to lower case
    create_bank(store, clock, "b")
    report = import_csv(store, clock, "b", io.StringIO(text))
    assert report.added == 3 and not report.errors
    assert export_csv_text(store, "b") == text


def test_duplicate_rows_inside_one_file(store: Store, clock: SettableClock) -> None:
    create_bank(store, clock, "d")
    rows = "signal_type,signal,category,source\n" + f"sha256,{SHA256},harmful_abusive,x\n" * 3
    report = import_csv(store, clock, "d", io.StringIO(rows))
    assert (report.added, report.duplicates) == (1, 2)


def test_large_import_is_batched(sqlite_store: Store, clock: SettableClock) -> None:
    create_bank(sqlite_store, clock, "big")
    body = "".join(f"sha256,{i:064x},csam_prepubescent,s\n" for i in range(12_345))
    report = import_csv(
        sqlite_store, clock, "big", io.StringIO("signal_type,signal,category,source\n" + body)
    )
    assert report.added == 12_345
    assert list_banks(sqlite_store)[0].entries == 12_345


def test_bank_rules(store: Store, clock: SettableClock) -> None:
    create_bank(store, clock, "own")
    with pytest.raises(BankError, match="already exists"):
        create_bank(store, clock, "own")
    with pytest.raises(BankError, match="threshold"):
        create_bank(store, clock, "bad", threshold=300)
    with pytest.raises(BankError, match="no bank"):
        export_csv(store, "missing", io.StringIO())
    with pytest.raises(BankError, match="header"):
        import_csv(store, clock, "own", io.StringIO("hash,kind\n"))
    set_enabled(store, clock, "own", False)
    assert [(b.name, b.enabled) for b in list_banks(store)] == [("own", False)]


def test_normalise_signal() -> None:
    assert normalise_signal("md5", " " + "A" * 32 + " ") == "a" * 32
    with pytest.raises(BankError):
        normalise_signal("sha1", "z" * 40)
