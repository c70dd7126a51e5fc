"""Text that came from outside (RDAP, crawled pages, imported files) on its way into our outputs.

Provider names come from RDAP answers, bank sources from other hotlines' files: whoever runs a
registry entry chooses them. Two outputs read such text as code unless told not to:
- a spreadsheet opening a CSV runs a cell that begins with `=`, `+`, `-` or `@` (or a tab or
  carriage return before one) as a formula (`=HYPERLINK(...)`, DDE): `csv_cell` prefixes such a
  cell with `'`, OWASP's advice, and `csv_uncell` undoes it when we read our own export back;
- matplotlib reads `$...$` in any label as mathtext and raises on what it cannot parse:
  `plain_label` is for chart labels (with mathtext turned off where the chart is drawn).

A module apart from every stage (like `_lazy`): reports and banks both need it, and neither
owns it.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def csv_cell(value: Any) -> Any:
    """`value` made safe for a spreadsheet: a string a spreadsheet would run as a formula gets a
    leading `'`. Numbers (and strings that are plain numbers, like `-1.5`) pass unchanged."""
    if not isinstance(value, str) or not value.startswith(FORMULA_PREFIXES):
        return value
    if _NUMBER.fullmatch(value):
        return value
    return "'" + value


def csv_row(values: Any) -> list[Any]:
    """`csv_cell` over a row."""
    return [csv_cell(v) for v in values]


def csv_uncell(value: str) -> str:
    """The text `csv_cell` was given: reading our own export back gives what was exported."""
    if value.startswith("'") and value[1:].startswith(FORMULA_PREFIXES):
        return value[1:]
    return value


def one_line(value: object, *, max_length: int = 200) -> str:
    """One line of printable text: control and format characters (line breaks, escapes, bidi
    overrides, zero-width) dropped, whitespace runs collapsed, long text cut with an ellipsis.
    For names from outside on their way into a mail header, a letter, a report."""
    text = "".join(
        " " if ch.isspace() else ch
        for ch in str(value)
        if ch.isspace() or unicodedata.category(ch)[0] != "C"
    )
    text = " ".join(text.split())
    if len(text) > max_length:
        text = text[: max_length - 1] + "…"
    return text


def plain_label(value: object, *, max_length: int = 60) -> str:
    """`one_line` for a chart label, with a leading `_` (which matplotlib's legend takes as
    "hide me") kept visible."""
    text = one_line(value, max_length=max_length)
    if text.startswith("_"):
        text = "\u2009" + text
    return text or "?"
