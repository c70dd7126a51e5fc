"""Recidivism, the monitor's rule that planning applies to every new notice: its media was
already noticed to the *same provider* (same file, same bank entry, or a PDQ within the bank's
threshold), and the notice then points at the first earlier notice.

Each test fails when the rule changes: counted against any provider, pointing at a later earlier
notice than the first, the PDQ threshold moved by one bit either way, or the PDQ of the bank
entry a perceptual detection matched left out.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from orbweaver.attribution import ChainLink
from orbweaver.clock import SettableClock
from orbweaver.notices import NoticeSettings, PlanStats, plan_notices
from orbweaver.store import Store
from orbweaver.store.models import BankEntry, Event, Media, Notice
from takedown.helpers import FixedAttributor, bank, detect, media, provider

# Not the default (31), so a rule that ignores the bank's own threshold fails too.
THRESHOLD = 20
SETTINGS = NoticeSettings(notice_from="n@hotline.test", notice_domain="hotline.test")
A, B = "a.test", "b.test"  # hosted by two different providers
P = hashlib.sha256(b"a synthetic PDQ").hexdigest()


def _flip(pdq: str, bits: int) -> str:
    """`pdq` with its lowest `bits` bits flipped: exactly `bits` away in Hamming distance."""
    return format(int(pdq, 16) ^ ((1 << bits) - 1), "064x")


@dataclass(frozen=True)
class Seen:
    id: int
    provider_id: int | None
    recidivist: bool
    recidivist_of_id: int | None


def _world(store: Store, clock: SettableClock) -> FixedAttributor:
    now = clock.now().replace(tzinfo=None)
    with store.session() as s:
        bank(s, now, threshold=THRESHOLD)
        chains, recipient = {}, {}
        for host, name in ((A, "HostA"), (B, "HostB")):
            p = provider(s, now, name, email=f"abuse@{host}")
            chains[host] = [ChainLink("hosting_provider", p.id, p.name, p.abuse_email)]
            recipient[host] = p.id
    return FixedAttributor(chains, recipient)


def _media(store: Store, clock: SettableClock, seed: str, pdq: str | None) -> int:
    """Synthetic media (labels only); `pdq=None`: no PDQ, so only exact identities can match."""
    with store.session() as s:
        m = media(s, clock.now().replace(tzinfo=None), seed, pdq=pdq)
        m.pdq = pdq
        return m.id


def _seen_at(
    store: Store, clock: SettableClock, url: str, media_id: int, entry_id: int | None = None
) -> None:
    with store.session() as s:
        m = s.get_one(Media, media_id)
        entry = s.get_one(BankEntry, entry_id) if entry_id is not None else None
        detect(s, clock.now().replace(tzinfo=None), url, m=m, entry=entry)


def _entry(store: Store, clock: SettableClock, signal_type: str, signal: str) -> int:
    now = clock.now().replace(tzinfo=None)
    with store.session() as s:
        entry = BankEntry(
            bank_id=bank(s, now).id,
            signal_type=signal_type,
            signal=signal,
            category="csam_prepubescent",
            added_at=now,
        )
        s.add(entry)
        s.flush()
        return entry.id


def _md5_of(store: Store, media_id: int) -> str:
    with store.session() as s:
        return s.get_one(Media, media_id).md5


def _plan(store: Store, clock: SettableClock, att: FixedAttributor) -> PlanStats:
    with store.session() as s:
        return plan_notices(s, clock, att, SETTINGS)


def _notice(store: Store, url: str) -> Seen:
    with store.session() as s:
        n = s.scalars(select(Notice).where(Notice.url == url)).one()
        return Seen(n.id, n.provider_id, n.recidivist, n.recidivist_of_id)


def _recidivist_events(store: Store) -> dict[int, int]:
    with store.session() as s:
        events = s.scalars(select(Event).where(Event.kind == "notice.recidivist")).all()
        return {e.subject_id: e.payload["earlier_notice_id"] for e in events if e.subject_id}


def test_the_same_file_is_recidivism_at_the_same_provider_only(
    store: Store, clock: SettableClock
) -> None:
    """The file matched its sha256 entry first, its md5 entry (another list's) since: only the
    file's identity links the notices."""
    att = _world(store, clock)
    m = _media(store, clock, "same-file", pdq=None)
    _seen_at(store, clock, f"http://{A}/1.jpg", m)
    assert _plan(store, clock, att).recidivist == 0
    first = _notice(store, f"http://{A}/1.jpg")
    md5 = _entry(store, clock, "md5", _md5_of(store, m))

    _seen_at(store, clock, f"http://{B}/1.jpg", m, md5)  # the same file at another provider
    assert _plan(store, clock, att).recidivist == 0
    elsewhere = _notice(store, f"http://{B}/1.jpg")
    assert elsewhere.provider_id != first.provider_id
    assert not elsewhere.recidivist and elsewhere.recidivist_of_id is None

    for path in ("2.jpg", "3.jpg"):  # back at the first provider, twice
        _seen_at(store, clock, f"http://{A}/{path}", m, md5)
        assert _plan(store, clock, att).recidivist == 1
    again = [_notice(store, f"http://{A}/{path}") for path in ("2.jpg", "3.jpg")]
    assert [(n.recidivist, n.recidivist_of_id) for n in again] == [(True, first.id)] * 2
    assert not _notice(store, f"http://{A}/1.jpg").recidivist
    assert _recidivist_events(store) == {n.id: first.id for n in again}


def test_a_detection_of_the_same_bank_entry_is_recidivism_at_the_same_provider_only(
    store: Store, clock: SettableClock
) -> None:
    """Different files (another encoding, say) that matched the same bank entry."""
    att = _world(store, clock)
    files = [_media(store, clock, f"entry-{i}", pdq=None) for i in range(3)]
    _seen_at(store, clock, f"http://{A}/e0.jpg", files[0])
    with store.session() as s:
        entry = s.scalars(select(BankEntry).order_by(BankEntry.id.desc())).first()
        assert entry is not None
        entry_id = entry.id
    _seen_at(store, clock, f"http://{B}/e1.jpg", files[1], entry_id)
    _seen_at(store, clock, f"http://{A}/e2.jpg", files[2], entry_id)
    assert _plan(store, clock, att).recidivist == 1
    first = _notice(store, f"http://{A}/e0.jpg")
    assert _notice(store, f"http://{B}/e1.jpg").recidivist is False
    again = _notice(store, f"http://{A}/e2.jpg")
    assert (again.provider_id, again.recidivist, again.recidivist_of_id) == (
        first.provider_id,
        True,
        first.id,
    )


@pytest.mark.parametrize("same_pass", [False, True], ids=["later-pass", "same-pass"])
@pytest.mark.parametrize("distance", [THRESHOLD, THRESHOLD + 1], ids=["at", "beyond"])
def test_a_pdq_within_the_bank_threshold_is_recidivism_and_one_bit_more_is_not(
    store: Store, clock: SettableClock, distance: int, same_pass: bool
) -> None:
    """In the same pass the earlier notice is found in the pass's cache of the provider's PDQs
    (loaded at the unrelated first notice, then extended); in a later pass, in the store."""
    att = _world(store, clock)
    near = _media(store, clock, "pdq-near", pdq=_flip(P, distance))
    _seen_at(store, clock, f"http://{A}/u.jpg", _media(store, clock, "other", pdq=_flip(P, 128)))
    _seen_at(store, clock, f"http://{A}/p0.jpg", _media(store, clock, "pdq-first", pdq=P))
    if not same_pass:
        _plan(store, clock, att)
    # The identical picture at another provider is never recidivism.
    _seen_at(store, clock, f"http://{B}/p1.jpg", _media(store, clock, "pdq-elsewhere", pdq=P))
    _seen_at(store, clock, f"http://{A}/p2.jpg", near)
    _plan(store, clock, att)
    first = _notice(store, f"http://{A}/p0.jpg")
    assert _notice(store, f"http://{B}/p1.jpg").recidivist is False
    new = _notice(store, f"http://{A}/p2.jpg")
    expected = (True, first.id) if distance <= THRESHOLD else (False, None)
    assert (new.recidivist, new.recidivist_of_id) == expected


def test_a_perceptual_detection_compares_the_pdq_of_the_entry_it_matched(
    store: Store, clock: SettableClock
) -> None:
    """A mirrored copy has a PDQ far from the original's; it matched a PDQ bank entry through
    its dihedral hashes, and that entry's PDQ is what was noticed before."""
    att = _world(store, clock)
    _seen_at(store, clock, f"http://{A}/o.jpg", _media(store, clock, "original", pdq=P))
    _plan(store, clock, att)
    mirrored = _media(store, clock, "mirrored", pdq=_flip(P, 256))  # every bit differs
    entry = _entry(store, clock, "pdq", _flip(P, THRESHOLD))
    _seen_at(store, clock, f"http://{A}/m.jpg", mirrored, entry)
    assert _plan(store, clock, att).recidivist == 1
    first = _notice(store, f"http://{A}/o.jpg")
    assert _notice(store, f"http://{A}/m.jpg").recidivist_of_id == first.id
