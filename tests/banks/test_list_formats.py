"""The IWF's hash list and Project VIC's VICS JSON imported: categories mapped, hashes we
match kept, everything else as tags, bad rows reported by line (synthetic samples)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from orbweaver.banks import BankError, create_bank, import_list
from orbweaver.store.models import BankEntry

LISTS = Path(__file__).parent.parent / "data" / "lists"


def _entries(store) -> dict[str, BankEntry]:  # type: ignore[no-untyped-def]
    with store.session() as s:
        rows = s.scalars(sa.select(BankEntry)).all()
        for r in rows:
            s.expunge(r)
        return {r.signal: r for r in rows}


def test_iwf_list(store, clock) -> None:  # type: ignore[no-untyped-def]
    create_bank(store, clock, "iwf")
    with (LISTS / "iwf-sample.csv").open() as f:
        report = import_list(store, clock, "iwf", f, fmt="iwf")
    got = _entries(store)
    assert report.added == 5  # rows 2-4: md5 and sha1 where given
    a = got["00000000000000000000000000000a01"]
    assert a.category == "csam_prepubescent"  # 3-6
    assert a.source == "iwf"
    assert "category=A" in a.tags and "iwf_reference=SYN-0001" in a.tags
    assert "age_group=3-6" in a.tags and "date_added=2026-01-04" in a.tags
    assert got["000000000000000000000000000000000000a001"].signal_type == "sha1"
    assert got["00000000000000000000000000000a02"].category == "csam_postpubescent"  # 14-15
    assert got["00000000000000000000000000000a03"].category == "csam_prepubescent"  # no age
    errors = dict(report.errors)
    assert "not A, B or C" in errors[5]  # D
    assert "md5" in errors[6]  # not hex
    assert 7 not in errors  # PhotoDNA only: counted, not an error


def test_vics_media_list(store, clock) -> None:  # type: ignore[no-untyped-def]
    create_bank(store, clock, "vic")
    with (LISTS / "vics-sample.json").open() as f:
        report = import_list(store, clock, "vic", f, fmt="vics")
    got = _entries(store)
    one = got["0000000000000000000000000000b001"]
    assert one.category == "csam_prepubescent" and one.source == "projectvic"
    assert "Series=SYN-SERIES-1" in one.tags and "MediaID=1" in one.tags
    assert "hash:photodna=present" in one.tags
    assert got["0123456789abcdef" * 4].signal_type == "pdq"
    assert got["0000000000000000000000000000b002"].category == "harmful_abusive"
    assert "VictimIdentified=false" in got["0000000000000000000000000000b002"].tags
    five = got["000000000000000000000000000000000000b005"]
    assert five.category == "harmful_abusive" and 'Tags=["cgi", "synthetic"]' in five.tags
    assert report.added == 5
    assert "0000000000000000000000000000b003" not in got  # uncategorised
    assert "0000000000000000000000000000b004" not in got  # comparison
    assert {n for n, _ in report.errors} == {3, 4}


def test_vics_cases_list(store, clock) -> None:  # type: ignore[no-untyped-def]
    create_bank(store, clock, "vic")
    with (LISTS / "vics-cases-sample.json").open() as f:
        report = import_list(store, clock, "vic", f, fmt="vics", source="vic-us")
    got = _entries(store)
    assert got["0000000000000000000000000000c010"].source == "vic-us"
    assert report.added == 1 and "unknown VICS category 9" in dict(report.errors)[2]


def test_not_a_vics_file(store, clock, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    create_bank(store, clock, "vic")
    bad = tmp_path / "x.json"
    bad.write_text('{"Media": []}')
    with bad.open() as f, pytest.raises(BankError, match="value"):
        import_list(store, clock, "vic", f, fmt="vics")


@pytest.mark.parametrize(
    ("fmt", "sample"), [("iwf", "iwf-sample.csv"), ("vics", "vics-sample.json")]
)
def test_a_list_import_tells_what_arrived(store, clock, fmt, sample) -> None:  # type: ignore[no-untyped-def]
    """Every format keeps the newest entry id before its rows (`after_entry`), which
    retroactive matching reads so that it matches stored media against the arrivals only."""
    path = LISTS / sample
    for bank in ("first", "second"):
        create_bank(store, clock, bank)
    with path.open() as f:
        first = import_list(store, clock, "first", f, fmt=fmt)
    newest = max(e.id for e in _entries(store).values())
    with path.open() as f:
        second = import_list(store, clock, "second", f, fmt=fmt)
    assert first.added and second.added == first.added
    assert (first.after_entry, second.after_entry) == (0, newest)
