"""Hostile bank CSV imports: formula cells, wrong encodings, huge lines, broken quoting. Each
bad line is one error with its line number; every good line of the same file still lands."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orbweaver.banks import BankError, create_bank, import_csv
from orbweaver.banks.service import ImportReport, export_csv_text, parse_csv
from orbweaver.clock import SettableClock
from orbweaver.store import Store

HEADER = "signal_type,signal,category,source\n"
GOOD = [f"sha256,{i:064x},harmful_abusive,hotline-a\n" for i in (1, 2)]

# (id, the hostile line, whether it is a valid entry: True, an error: False, blank: None)
LINES: dict[str, tuple[str, bool | None]] = {
    "formula-source": (f'sha256,{3:064x},harmful_abusive,"=HYPERLINK(""http://x"")"\n', True),
    "formula-signal": ("sha256,=1+1,harmful_abusive,x\n", False),
    "dde-category": ("sha256," + "c" * 64 + ",@SUM(A1),x\n", False),
    "cell-200kb": ("sha256," + "a" * 200_000 + ",harmful_abusive,x\n", False),
    "line-10mb-no-commas": ("x" * 10_000_000 + "\n", False),
    "unterminated-quote": ('"sha256,' + "d" * 64 + ",harmful_abusive,x\n", False),
    "nul-bytes": ("sha256,\x00" + "e" * 63 + ",harmful_abusive,x\n", False),
    "control-chars-in-source": (f"sha256,{4:064x},harmful_abusive,a\x1b[2Jb\x07\n", True),
    "too-few-columns": ("sha256\n", False),
    "ten-thousand-empty-columns": ("," * 10_000 + "\n", None),
    "ten-thousand-columns": ("sha256," + "x," * 10_000 + "\n", False),
    "pdq-wrong-length": ("pdq,abcd,harmful_abusive,x\n", False),
    "unknown-signal-type": ("photodna,abc,harmful_abusive,x\n", False),
}


@pytest.mark.parametrize("name", list(LINES))
def test_a_hostile_line_is_one_error_and_the_good_lines_land(name: str) -> None:
    hostile, valid = LINES[name]
    report = ImportReport()
    text = HEADER + GOOD[0] + hostile + GOOD[1]
    rows = list(parse_csv(io.StringIO(text), report))
    signals = [r.signal for r in rows]
    assert f"{1:064x}" in signals and f"{2:064x}" in signals
    if valid:
        assert len(rows) == 3 and not report.errors
    elif valid is None:
        assert len(rows) == 2 and not report.errors
    else:
        assert len(report.errors) >= 1 and all(msg for _, msg in report.errors)
        assert report.errors[0][0] == 3  # the hostile line's number


@pytest.mark.parametrize(
    "name,data",
    [
        ("utf16-file", (HEADER + GOOD[0]).encode("utf-16")),
        ("latin1-file", (HEADER + GOOD[0]).replace("hotline-a", "h\u00f6tline").encode("latin-1")),
        ("utf8-bom-file", "\ufeff".encode() + (HEADER + GOOD[0]).encode()),
        ("binary-file", bytes(range(256)) * 100),
    ],
)
def test_a_file_in_another_encoding_is_imported_or_refused_clearly(
    name: str,
    data: bytes,
    store: Store,
    clock: SettableClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through `orbweaver banks import`, as an analyst would."""
    from orbweaver.cli import app

    create_bank(store, clock, "b")
    path = tmp_path / f"{name}.csv"
    path.write_bytes(data)
    monkeypatch.setattr("orbweaver.store.open_store", lambda *a, **k: store)
    result = CliRunner().invoke(app, ["bank", "import", "b", str(path)])
    if name in ("utf8-bom-file", "latin1-file"):
        assert result.exit_code == 0, result.output
        assert f"{1:064x}" in export_csv_text(store, "b")
    else:
        assert result.exit_code != 0 and "header" in result.output, result.output


def test_a_formula_source_is_stored_as_is_and_exported_neutralised(
    store: Store, clock: SettableClock
) -> None:
    create_bank(store, clock, "f")
    text = HEADER + LINES["formula-source"][0]
    assert import_csv(store, clock, "f", io.StringIO(text)).added == 1
    rows = list(csv.DictReader(io.StringIO(export_csv_text(store, "f"))))
    assert rows[0]["source"] == '\'=HYPERLINK("http://x")'


@pytest.mark.parametrize("header", ["x" * 10_000_000, '"signal_type,signal', "\x00" * 100])
def test_an_unreadable_header_is_a_bank_error(header: str) -> None:
    with pytest.raises(BankError, match="line 1"):
        list(parse_csv(io.StringIO(header + "\n" + GOOD[0]), ImportReport()))
