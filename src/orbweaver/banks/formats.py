"""Hash lists in other shapes than ours: the IWF's hash list (CSV) and Project VIC's VICS
(OData JSON), mapped onto bank entries.

Written from the formats' public descriptions; the columns and codes of the file a
membership actually delivers should be checked against these maps (`IWF_COLUMNS`,
`VICS_CATEGORIES`), which are the one place to adjust.

- Signals: the hashes we compute (md5, sha1, sha256, pdq) become entries; PhotoDNA and other
  licensed or foreign hashes are counted as skipped.
- Categories: mapped onto ours (below); a row whose category maps to none (uncategorised,
  comparison images) is rejected with its line, not guessed.
- Everything else a row carries (columns we do not map, the source's own category code) is kept
  as the entry's tags, `name=value`, so nothing the list said is lost.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any, TextIO

from orbweaver.banks.service import (
    BankError,
    EntryRow,
    ImportReport,
    import_csv,
    import_rows,
    normalise_signal,
)
from orbweaver.categories import CSAM_POSTPUBESCENT, CSAM_PREPUBESCENT, HARMFUL_ABUSIVE
from orbweaver.clock import Clock
from orbweaver.store import Store

# Our signal types, by the names lists give their hash columns (lower-cased).
SIGNAL_COLUMNS = {
    "md5": "md5",
    "sha1": "sha1",
    "sha-1": "sha1",
    "sha256": "sha256",
    "sha-256": "sha256",
    "pdq": "pdq",
}
FOREIGN_HASHES = ("photodna", "pdna", "netclean", "f1", "videntifier", "tmk")
MAX_TAG = 200

# -- the IWF hash list ------------------------------------------------------------------------

IWF_COLUMNS = {
    "category": "category",  # UK law's A, B, C (severity, not age)
    "iwf_category": "category",
    "severity": "category",
    "age": "age",  # the IWF's age bands (0-2, 3-6, 7-10, 11-13, 14-15, 16-17)
    "age_group": "age",
    "age_range": "age",
}
IWF_SEVERITIES = {"A", "B", "C"}
PREPUBESCENT_BANDS = {"0-2", "3-6", "7-10"}
POSTPUBESCENT_BANDS = {"11-13", "14-15", "16-17"}


def parse_iwf(
    stream: TextIO, report: ImportReport, *, source: str = "iwf", default: str = CSAM_PREPUBESCENT
) -> Iterator[EntryRow]:
    """Rows of an IWF hash list (CSV with a header): one entry per hash column of each row.

    Category A/B/C is CSAM under UK law whatever the age; the age band, when the list gives
    it, decides prepubescent (up to 10) or postpubescent (11 to 17); without it `default`.
    """
    reader = csv.reader(stream)
    header = next(reader, None)
    if header is None:
        return
    names = [h.strip().lstrip("\ufeff").lower() for h in header]
    if not any(n in SIGNAL_COLUMNS for n in names):
        raise BankError(
            f"line 1: no hash column (one of {', '.join(sorted(set(SIGNAL_COLUMNS)))}) in "
            f"{','.join(names)[:200]}"
        )
    for number, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        cells = dict(zip(names, (c.strip() for c in row), strict=False))
        severity = age = ""
        tags: list[str] = []
        for name, value in cells.items():
            role = IWF_COLUMNS.get(name)
            if role == "category":
                severity = value.upper()
            elif role == "age":
                age = value.replace(" ", "")
            if name not in SIGNAL_COLUMNS and value:
                tags.append(_tag(name, value))
        if severity not in IWF_SEVERITIES:
            report.errors.append((number, f"category {severity or '(none)'!r} is not A, B or C"))
            continue
        category = (
            CSAM_PREPUBESCENT
            if age in PREPUBESCENT_BANDS
            else CSAM_POSTPUBESCENT
            if age in POSTPUBESCENT_BANDS
            else default
        )
        yield from _entries(cells, category, source, tuple(tags), number, report)


# -- Project VIC's VICS ---------------------------------------------------------------------

# Project VIC's (US) media categories as their public descriptions give them.
VICS_CATEGORIES: dict[int, str | None] = {
    0: None,  # uncategorised / non-pertinent
    1: CSAM_PREPUBESCENT,  # child abuse material (no age detail: the severe side)
    2: HARMFUL_ABUSIVE,  # child exploitative / age difficult
    3: HARMFUL_ABUSIVE,  # CGI / animation
    4: None,  # comparison images
}


def parse_vics(
    stream: TextIO, report: ImportReport, *, source: str = "projectvic"
) -> Iterator[EntryRow]:
    """Entries of a VICS JSON file: `{"value": [media...]}` (VICS 2.0, media at the top) or
    `{"value": [cases, each with "Media": [...]]}` (1.x). A medium's hashes are its `MD5`,
    `SHA1`, `SHA256` and its `AlternativeHashes` (`HashName`/`HashValue`)."""
    try:
        data = json.load(stream)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BankError(f"not a VICS JSON file: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("value"), list):
        raise BankError('not a VICS JSON file: no "value" list at the top')
    number = 0
    for item in data["value"]:
        media = item.get("Media") if isinstance(item, dict) and "Media" in item else [item]
        for medium in media if isinstance(media, list) else []:
            number += 1
            if not isinstance(medium, dict):
                report.errors.append((number, "a medium that is not an object"))
                continue
            yield from _vics_medium(medium, number, source, report)


def _vics_medium(
    medium: dict[str, Any], number: int, source: str, report: ImportReport
) -> Iterator[EntryRow]:
    raw = medium.get("Category")
    try:
        code = int(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        report.errors.append((number, f"category {raw!r} is not a VICS category number"))
        return
    if code not in VICS_CATEGORIES:
        report.errors.append((number, f"unknown VICS category {code}"))
        return
    category = VICS_CATEGORIES[code]
    if category is None:
        report.errors.append((number, f"VICS category {code} is not known material"))
        return
    cells: dict[str, str] = {}
    tags: list[str] = []
    for key, value in medium.items():
        low = key.lower()
        if low in SIGNAL_COLUMNS and isinstance(value, str):
            cells[low] = value
        elif key == "AlternativeHashes" and isinstance(value, list):
            for alt in value:
                if isinstance(alt, dict):
                    name = str(alt.get("HashName", "")).lower()
                    if name in SIGNAL_COLUMNS and isinstance(alt.get("HashValue"), str):
                        cells[name] = alt["HashValue"]
                    elif name:
                        tags.append(_tag(f"hash:{name}", "present"))
        elif value not in (None, "", [], {}) and not key.startswith(("@odata", "odata.")):
            text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
            tags.append(_tag(key, text))
    yield from _entries(cells, category, source, tuple(tags), number, report)


# -- shared ---------------------------------------------------------------------------------


def _tag(name: str, value: str) -> str:
    return f"{name}={value}"[:MAX_TAG]


def _entries(
    cells: dict[str, str],
    category: str,
    source: str,
    tags: tuple[str, ...],
    number: int,
    report: ImportReport,
) -> Iterator[EntryRow]:
    found = False
    for column, value in cells.items():
        signal_type = SIGNAL_COLUMNS.get(column)
        if signal_type is None or not value:
            continue
        try:
            signal = normalise_signal(signal_type, value)
        except BankError as exc:
            report.errors.append((number, f"{column}: {exc}"))
            continue
        found = True
        yield EntryRow(signal_type, signal, category, source, tags=tags)
    if not found and not any(k in cells for k in FOREIGN_HASHES):
        report.errors.append((number, "no hash we match (md5, sha1, sha256, pdq)"))


LIST_FORMATS = ("csv", "iwf", "vics")


def import_list(
    store: Store,
    clock: Clock,
    name: str,
    stream: TextIO,
    *,
    fmt: str = "csv",
    source: str = "",
    actor: str = "system",
) -> ImportReport:
    """Import a list in one of `LIST_FORMATS` into an existing bank (valid rows land even
    when others are bad), recorded as `bank.imported`."""
    if fmt == "csv":
        return import_csv(store, clock, name, stream, actor=actor)
    if fmt not in LIST_FORMATS:
        raise BankError(f"unknown list format {fmt!r} (one of {', '.join(LIST_FORMATS)})")
    if fmt == "iwf":
        return import_rows(
            store,
            clock,
            name,
            lambda report: parse_iwf(stream, report, source=source or "iwf"),
            actor=actor,
        )
    return import_rows(
        store,
        clock,
        name,
        lambda report: parse_vics(stream, report, source=source or "projectvic"),
        actor=actor,
    )
