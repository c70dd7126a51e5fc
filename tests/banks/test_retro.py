"""Retroactive matching (issue 17): stored media against the entries that just arrived, and only
those; every matcher rule applies (distance per bank, switched-off entries, negative banks)."""

from __future__ import annotations

import hashlib
import io

import sqlalchemy as sa

from orbweaver.banks import (
    create_bank,
    import_csv,
    match_new_entries,
    set_entry_enabled,
)
from orbweaver.clock import SettableClock
from orbweaver.store import CompactSignals, Store, write_signals
from orbweaver.store.models import BankEntry, Detection, Event, Media, Sighting

P = hashlib.sha256(b"stored picture").hexdigest()
SHA = hashlib.sha256(b"stored file").hexdigest()
MD5 = hashlib.md5(b"stored file").hexdigest()
KEY = CompactSignals.KEY_BYTES  # the sha256 prefix a compact record keeps, a lead names


def away(pdq: str, bits: int) -> str:
    value = int(pdq, 16)
    for i in range(bits):
        value ^= 1 << (i * 256 // max(bits, 1))
    return f"{value:064x}"


def csv_of(*rows: tuple[str, str]) -> io.StringIO:
    body = "".join(f"{t},{s},csam_prepubescent,src\n" for t, s in rows)
    return io.StringIO("signal_type,signal,category,source\n" + body)


def compact(store: Store, clock: SettableClock, *records: CompactSignals) -> None:
    with store.session() as session:
        write_signals(session, records, clock.now())


def record(name: str, pdq: str | None = None, sha256: str | None = None) -> CompactSignals:
    h = hashlib.sha256(name.encode()).hexdigest()
    return CompactSignals.of(sha256 or h, h[:32], h[:40], pdq)


def test_compact_records_within_the_bank_distance_become_leads(
    store: Store, clock: SettableClock
) -> None:
    compact(
        store,
        clock,
        record("at", pdq=away(P, 10)),
        record("beyond", pdq=away(P, 11)),
        record("exact", sha256=SHA),
        record("none"),
    )
    create_bank(store, clock, "b", threshold=10)
    report = import_csv(store, clock, "b", csv_of(("pdq", P), ("sha256", SHA)))
    found = match_new_entries(store, clock, after_entry=report.after_entry)
    leads = {prefix for prefix, _ in found.leads}
    want = {hashlib.sha256(b"at").hexdigest()[: 2 * KEY], SHA[: 2 * KEY]}
    assert leads == want
    assert found.entries == 2 and found.detections == 0
    with store.session() as session:
        (event,) = session.scalars(sa.select(Event).where(Event.kind == "bank.retro_matched"))
    assert event.payload["leads"] == 2


def test_only_the_new_entries_are_matched(store: Store, clock: SettableClock) -> None:
    compact(store, clock, record("old", pdq=P), record("new", pdq=away(P, 128)))
    create_bank(store, clock, "b")
    first = import_csv(store, clock, "b", csv_of(("pdq", P)))
    assert len(match_new_entries(store, clock, after_entry=first.after_entry).leads) == 1
    second = import_csv(store, clock, "b", csv_of(("pdq", away(P, 128))))
    found = match_new_entries(store, clock, after_entry=second.after_entry)
    assert [p for p, _ in found.leads] == [hashlib.sha256(b"new").hexdigest()[: 2 * KEY]]


def test_switched_off_and_negative_entries_make_no_leads(
    store: Store, clock: SettableClock
) -> None:
    compact(store, clock, record("a", pdq=P), record("b", sha256=SHA))
    create_bank(store, clock, "known")
    create_bank(store, clock, "benign", kind="negative", threshold=0)
    import_csv(store, clock, "benign", csv_of(("pdq", P)))
    report = import_csv(store, clock, "known", csv_of(("pdq", P), ("sha256", SHA)))
    with store.session() as session:
        sha_entry = session.scalar(sa.select(BankEntry.id).where(BankEntry.signal == SHA))
    assert sha_entry is not None
    set_entry_enabled(store, clock, sha_entry, False, reason="collision")
    # the negative entry arrived before: it still suppresses the new positive one
    assert match_new_entries(store, clock, after_entry=report.after_entry).leads == []


def test_full_media_get_detections_on_every_sighting(store: Store, clock: SettableClock) -> None:
    now = clock.now().replace(tzinfo=None)
    with store.session() as session:
        media = Media(sha256=SHA, sha1="b" * 40, md5=MD5, size_bytes=1, first_seen_at=now)
        session.add(media)
        session.flush()
        for i in range(3):
            session.add(
                Sighting(media_id=media.id, url=f"http://h.test/{i}", host="h.test", seen_at=now)
            )
    create_bank(store, clock, "b")
    report = import_csv(store, clock, "b", csv_of(("md5", MD5)))
    found = match_new_entries(store, clock, after_entry=report.after_entry)
    assert (found.media, found.detections) == (1, 3)
    with store.session() as session:
        rows = session.execute(sa.select(Detection.signal_type, Detection.held)).all()
    assert rows == [("md5", False)] * 3


def test_nothing_new_is_a_no_op(store: Store, clock: SettableClock) -> None:
    compact(store, clock, record("a", pdq=P))
    create_bank(store, clock, "b")
    report = import_csv(store, clock, "b", csv_of(("pdq", P)))
    with store.session() as session:
        newest = session.scalar(sa.select(sa.func.max(BankEntry.id)))
    assert newest is not None and newest > report.after_entry
    found = match_new_entries(store, clock, after_entry=newest)
    assert (found.entries, found.leads) == (0, [])


def test_bank_import_runs_retroactive_matching(
    store: Store,
    clock: SettableClock,
    tmp_path,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    from typer.testing import CliRunner

    from orbweaver.cli import app

    now = clock.now().replace(tzinfo=None)
    with store.session() as session:
        media = Media(sha256=SHA, sha1="b" * 40, md5=MD5, size_bytes=1, first_seen_at=now)
        session.add(media)
        session.flush()
        session.add(Sighting(media_id=media.id, url="http://h.test/x", host="h.test", seen_at=now))
    create_bank(store, clock, "b")
    monkeypatch.setattr("orbweaver.store.open_store", lambda *a, **k: store)
    path = tmp_path / "list.csv"
    path.write_text(csv_of(("sha256", SHA)).getvalue())
    result = CliRunner().invoke(app, ["bank", "import", "b", str(path)])
    assert result.exit_code == 0, result.output
    assert "retroactive matching: 1 new detections on 1 stored media" in result.stdout
    more = tmp_path / "more.csv"
    more.write_text(csv_of(("md5", MD5)).getvalue())  # new, and it matches the stored media
    skipped = CliRunner().invoke(app, ["bank", "import", "--no-retro", "b", str(more)])
    assert "1 added" in skipped.stdout and "retroactive" not in skipped.stdout
