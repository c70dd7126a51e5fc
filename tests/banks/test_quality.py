"""Signal quality controls (issue 17): explanations, per-bank distances, switched-off entries,
negative banks and flood quarantine; each in force at the matcher's next refresh, each audited.
Both sides of every boundary."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from orbweaver.banks import (
    BankError,
    FloodPolicy,
    check_floods,
    create_bank,
    explain_matches,
    import_csv,
    release_entry,
    set_distance,
    set_enabled,
    set_entry_enabled,
)
from orbweaver.banks.matcher import Matcher
from orbweaver.clock import SettableClock
from orbweaver.store import Store
from orbweaver.store.models import BankEntry, Detection, Event, Media, Sighting

P = hashlib.sha256(b"a benign test picture's pdq").hexdigest()
SHA = hashlib.sha256(b"a benign file").hexdigest()


def away(pdq: str, bits: int) -> str:
    value = int(pdq, 16)
    for i in range(bits):
        value ^= 1 << (i * 256 // max(bits, 1))
    return f"{value:064x}"


class Signals:
    def __init__(self, pdq: str | None = None, sha256: str = "1" * 64):
        self.pdq = pdq
        self.pdq_quality = 100 if pdq else None
        self.sha256 = sha256
        self.sha1 = "1" * 40
        self.md5 = "1" * 32


def csv_of(*rows: tuple[str, str], source: str = "test") -> io.StringIO:
    body = "".join(f"{t},{s},csam_prepubescent,{source}\n" for t, s in rows)
    return io.StringIO("signal_type,signal,category,source\n" + body)


def entry_id(store: Store, signal: str) -> int:
    with store.session() as session:
        found = session.scalar(sa.select(BankEntry.id).where(BankEntry.signal == signal))
    assert found is not None
    return int(found)


def events(store: Store, kind: str) -> list[Event]:
    with store.session() as session:
        return list(session.scalars(sa.select(Event).where(Event.kind == kind)))


# --- explanations ----------------------------------------------------------------------------


def test_a_match_is_explained_with_bank_entry_source_distance_and_type(
    store: Store, clock: SettableClock
) -> None:
    create_bank(store, clock, "partner")
    import_csv(store, clock, "partner", csv_of(("pdq", P), source="hotline-x"))
    matcher = Matcher(store)
    matcher.refresh()
    (match,) = matcher.match(Signals(pdq=away(P, 5))).matches
    (why,) = explain_matches(store, [match])
    assert why == {
        "bank": "partner",
        "entry_id": entry_id(store, P),
        "source": "hotline-x",
        "signal_type": "pdq",
        "distance": 5,
        "category": "csam_prepubescent",
    }


def test_match_json_carries_the_explanation(
    store: Store, clock: SettableClock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from orbweaver.cli import app

    data = b"a benign file"
    create_bank(store, clock, "own")
    import_csv(store, clock, "own", csv_of(("sha256", SHA), source="analyst"))
    monkeypatch.setattr("orbweaver.store.open_store", lambda *a, **k: store)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    result = CliRunner().invoke(app, ["match", "--json", str(path)])
    assert result.exit_code == 0, result.output
    (match,) = json.loads(result.stdout)["matches"]
    assert match["bank"] == "own" and match["entry_id"] == entry_id(store, SHA)
    assert (match["source"], match["signal_type"], match["distance"]) == ("analyst", "sha256", 0)


# --- per-bank distance -----------------------------------------------------------------------


@pytest.mark.parametrize("distance", [0, 9, 40])
def test_the_bank_distance_set_is_in_force_at_the_next_refresh(
    store: Store, clock: SettableClock, distance: int
) -> None:
    create_bank(store, clock, "b", threshold=31)
    import_csv(store, clock, "b", csv_of(("pdq", P)))
    matcher = Matcher(store)
    matcher.refresh()
    set_distance(store, clock, "b", "pdq", distance)
    assert matcher.refresh() is True
    assert [m.distance for m in matcher.match(Signals(pdq=away(P, distance))).matches] == [distance]
    assert matcher.match(Signals(pdq=away(P, distance + 1))).matches == []
    (event,) = events(store, "bank.distance_changed")
    assert event.payload == {"signal_type": "pdq", "distance": distance}


def test_a_distance_is_refused_for_exact_types_and_out_of_range(
    store: Store, clock: SettableClock
) -> None:
    create_bank(store, clock, "b")
    with pytest.raises(BankError, match="exactly"):
        set_distance(store, clock, "b", "sha256", 3)
    with pytest.raises(BankError, match="between"):
        set_distance(store, clock, "b", "pdq", 257)
    with pytest.raises(BankError, match="between"):
        set_distance(store, clock, "b", "pdq", -1)
    set_distance(store, clock, "b", "pdq", 256)  # the edge itself is allowed


# --- switching one entry off -----------------------------------------------------------------


def test_a_disabled_entry_stops_matching_at_the_next_refresh_and_comes_back(
    store: Store, clock: SettableClock
) -> None:
    create_bank(store, clock, "b")
    import_csv(store, clock, "b", csv_of(("pdq", P), ("sha256", SHA)))
    matcher = Matcher(store)
    matcher.refresh()
    pid = entry_id(store, P)
    set_entry_enabled(store, clock, pid, False, reason="collides with a stock photo")
    assert matcher.match(Signals(pdq=P)).matches != []  # not refreshed yet
    assert matcher.refresh() is True
    assert matcher.match(Signals(pdq=P)).matches == []
    assert matcher.match_pdq(P) == [] and matcher.match_pdq_many([P]) == [[]]
    # the other entry of the same bank goes on matching
    assert [m.signal_type for m in matcher.match(Signals(sha256=SHA)).matches] == ["sha256"]
    with store.session() as session:
        entry = session.get(BankEntry, pid)
        assert entry is not None and entry.disabled_reason == "collides with a stock photo"
    set_entry_enabled(store, clock, pid, True, reason="false alarm")
    matcher.refresh()
    assert [m.entry_id for m in matcher.match(Signals(pdq=P)).matches] == [pid]
    assert [e.subject_id for e in events(store, "bank.entry_disabled")] == [pid]
    assert [e.payload["reason"] for e in events(store, "bank.entry_enabled")] == ["false alarm"]


def test_switching_an_entry_needs_a_reason(store: Store, clock: SettableClock) -> None:
    create_bank(store, clock, "b")
    import_csv(store, clock, "b", csv_of(("pdq", P)))
    with pytest.raises(BankError, match="why"):
        set_entry_enabled(store, clock, entry_id(store, P), False, reason=" ")
    with pytest.raises(BankError, match="no bank entry"):
        set_entry_enabled(store, clock, 999_999, False, reason="x")


# --- negative banks --------------------------------------------------------------------------


@pytest.mark.parametrize("negative_distance", [0, 6])
def test_a_negative_bank_match_suppresses_positive_matches(
    store: Store, clock: SettableClock, negative_distance: int
) -> None:
    create_bank(store, clock, "known", threshold=31)
    create_bank(store, clock, "benign", threshold=negative_distance, kind="negative")
    import_csv(store, clock, "known", csv_of(("pdq", P)))
    import_csv(store, clock, "benign", csv_of(("pdq", away(P, 20))))
    matcher = Matcher(store)
    matcher.refresh()
    # the query sits `negative_distance` from the benign picture: inside its distance
    query = away(away(P, 20), negative_distance) if negative_distance else away(P, 20)
    result = matcher.match(Signals(pdq=query))
    assert result.matches == []
    assert [m.bank for m in result.allowed_by] == ["benign"]
    assert [m.bank for m in result.suppressed] == ["known"]
    assert matcher.match_pdq(query) == [] and matcher.match_pdq_many([query]) == [[]]
    # one bit beyond the negative bank's distance: the positive match stands
    beyond = away(away(P, 20), negative_distance + 1)
    assert [m.bank for m in matcher.match(Signals(pdq=beyond)).matches] == ["known"]
    # a disabled negative bank suppresses nothing, from the next refresh
    set_enabled(store, clock, "benign", False)
    matcher.refresh()
    assert [m.bank for m in matcher.match(Signals(pdq=query)).matches] == ["known"]


def test_a_negative_exact_entry_suppresses_a_positive_pdq_match(
    store: Store, clock: SettableClock
) -> None:
    create_bank(store, clock, "known")
    create_bank(store, clock, "benign", kind="negative")
    import_csv(store, clock, "known", csv_of(("pdq", P)))
    import_csv(store, clock, "benign", csv_of(("sha256", SHA)))
    matcher = Matcher(store)
    matcher.refresh()
    assert matcher.match(Signals(pdq=P, sha256=SHA)).matches == []
    assert [m.bank for m in matcher.match(Signals(pdq=P)).matches] == ["known"]


def test_a_bank_kind_must_be_known(store: Store, clock: SettableClock) -> None:
    with pytest.raises(BankError, match="kind"):
        create_bank(store, clock, "b", kind="maybe")


# --- flood quarantine ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("last", "before", "flood"),
    [
        (49, 0, False),  # under the minimum
        (50, 0, True),  # at the minimum, no baseline
        (50, 7 * 24 * 5, False),  # 5 an hour before: 50 is 10x, not more
        (51, 7 * 24 * 5, True),  # just above 10x
    ],
)
def test_the_flood_rule(last: int, before: int, flood: bool) -> None:
    assert FloodPolicy().is_flood(last, before) is flood


def _seed(store: Store, clock: SettableClock, signal: str) -> tuple[int, list[int]]:
    create_bank(store, clock, "b")
    import_csv(store, clock, "b", csv_of(("pdq", signal)))
    now = clock.now().replace(tzinfo=None)
    with store.session() as session:
        media = Media(sha256="a" * 64, sha1="b" * 40, md5="c" * 32, size_bytes=1, first_seen_at=now)
        session.add(media)
        session.flush()
        sightings = [
            Sighting(media_id=media.id, url=f"http://x.test/{i}.jpg", host="x.test", seen_at=now)
            for i in range(60)
        ]
        session.add_all(sightings)
        session.flush()
        return entry_id(store, signal), [s.id for s in sightings]


def _detect(store: Store, clock: SettableClock, entry: int, sightings: list[int]) -> set[int]:
    with store.session() as session:
        for sid in sightings:
            session.add(
                Detection(
                    sighting_id=sid,
                    bank_entry_id=entry,
                    signal_type="pdq",
                    distance=0,
                    category="csam_prepubescent",
                    detected_at=clock.now(),
                )
            )
        session.flush()
        return check_floods(session, clock, [entry], FloodPolicy(min_matches=10, factor=10.0))


def test_a_flood_quarantines_the_entry_holds_its_detections_and_release_lets_them_go(
    store: Store, clock: SettableClock
) -> None:
    from orbweaver.notices.planning import _pending_groups

    entry, sightings = _seed(store, clock, P)
    assert _detect(store, clock, entry, sightings[:9]) == set()  # 9 in the hour: not yet
    clock.advance(timedelta(minutes=10))
    assert _detect(store, clock, entry, sightings[9:10]) == {entry}  # the 10th: a flood
    with store.session() as session:
        held = session.scalars(sa.select(Detection.held)).all()
        assert held and all(held)
        assert _pending_groups(session, 100) == []  # no notice for held detections
        row = session.get(BankEntry, entry)
        assert row is not None and row.quarantined_at is not None
    (event,) = events(store, "bank.entry_quarantined")
    assert event.payload["last_hour"] == 10
    # the matcher flags the entry's next matches as held, from its next refresh
    matcher = Matcher(store)
    matcher.refresh()
    assert [m.held for m in matcher.match(Signals(pdq=P)).matches] == [True]
    assert release_entry(store, clock, entry, reason="checked: real") == 10
    matcher.refresh()
    assert [m.held for m in matcher.match(Signals(pdq=P)).matches] == [False]
    with store.session() as session:
        assert len(_pending_groups(session, 100)) == 10
    with pytest.raises(BankError, match="not quarantined"):
        release_entry(store, clock, entry, reason="again")


def test_detections_outside_the_hour_count_as_baseline_not_as_flood(
    store: Store, clock: SettableClock
) -> None:
    entry, sightings = _seed(store, clock, P)
    assert _detect(store, clock, entry, sightings[:9]) == set()
    clock.advance(timedelta(hours=1, seconds=1))  # those 9 are baseline now
    assert _detect(store, clock, entry, sightings[9:18]) == set()
    assert _detect(store, clock, entry, sightings[18:19]) == {entry}  # 10 > 10 * 9/168


def test_release_can_keep_the_held_detections_held(store: Store, clock: SettableClock) -> None:
    entry, sightings = _seed(store, clock, P)
    assert _detect(store, clock, entry, sightings[:10]) == {entry}
    assert release_entry(store, clock, entry, reason="r", unhold=False) == 0
    with store.session() as session:
        assert all(session.scalars(sa.select(Detection.held)).all())
