"""A bank's sources are other hotlines' free text: the CSV export never carries a formula a
spreadsheet would run, and importing the export gives back the very same bank (issue 14)."""

from __future__ import annotations

import csv
import io

from orbweaver.banks import create_bank, import_csv
from orbweaver.banks.service import export_csv_text
from orbweaver.clock import SettableClock
from orbweaver.store import Store

SOURCES = ['=HYPERLINK("http://evil.test","x")', "+1+1", "-cmd", "@SUM(A1)", "plain"]


def test_formula_sources_are_neutralised_and_round_trip(store: Store, clock: SettableClock) -> None:
    create_bank(store, clock, "a")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["signal_type", "signal", "category", "source"])
    for i, source in enumerate(SOURCES, start=1):
        writer.writerow(["sha256", f"{i:064x}", "harmful_abusive", source])
    report = import_csv(store, clock, "a", io.StringIO(out.getvalue()))
    assert report.added == len(SOURCES) and not report.errors
    text = export_csv_text(store, "a")
    exported = [r["source"] for r in csv.DictReader(io.StringIO(text))]
    assert exported == ["'" + s for s in SOURCES[:4]] + ["plain"]
    create_bank(store, clock, "b")
    assert import_csv(store, clock, "b", io.StringIO(text)).added == len(SOURCES)
    assert export_csv_text(store, "b") == text
