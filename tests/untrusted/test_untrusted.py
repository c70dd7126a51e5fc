"""The helpers for outside text in our outputs (orbweaver.untrusted), with their invariants."""

from __future__ import annotations

import io

from hypothesis import example, given
from hypothesis import strategies as st

from orbweaver.untrusted import FORMULA_PREFIXES, csv_cell, csv_uncell, plain_label


@example("+0")  # a plain number with its sign passes unchanged (hypothesis found it)
@example("+0x")
@given(st.text())
def test_a_neutralised_cell_never_starts_a_formula_and_reads_back(text: str) -> None:
    cell = csv_cell(text)
    assert not cell.startswith(("=", "@", "\t", "\r"))
    if cell.startswith(("+", "-")):  # only a plain number keeps its sign (`+3`, `-1.5`)
        float(cell)
    if not text.startswith("'"):
        assert csv_uncell(cell) == text


def test_numbers_and_plain_text_pass_unchanged() -> None:
    for value in ("-1.5", "+3", "1e-5", "hotline-a", "", 12, None, -4.0):
        assert csv_cell(value) == value
    assert csv_cell("=1+1") == "'=1+1"
    assert all(csv_cell(p + "x").startswith("'") for p in FORMULA_PREFIXES)


@given(st.text())
def test_a_plain_label_is_one_bounded_printable_line(text: str) -> None:
    label = plain_label(text)
    assert 0 < len(label) <= 61
    assert label.isprintable() or "\u2009" in label
    assert "\n" not in label and not label.startswith("_")


def test_the_bank_export_round_trip_keeps_a_formula_like_source() -> None:
    out = io.StringIO()
    import csv

    csv.writer(out).writerow([csv_cell("=HYPERLINK(1)")])
    (cell,) = next(csv.reader(io.StringIO(out.getvalue())))
    assert cell == "'=HYPERLINK(1)" and csv_uncell(cell) == "=HYPERLINK(1)"
