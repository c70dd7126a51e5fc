"""The matcher's two rules that decide what is reported (issue 21, survivors 3 and 9).

- A PDQ entry matches at exactly its bank's threshold and not one bit beyond, also when another
  enabled bank's wider threshold makes the index return the farther hit (so the bank's own
  threshold, not the index bound, has to refuse it).
- A disabled bank matches nothing, by any signal type and on every path (`match`,
  `match_exact`, `match_pdq`, `match_pdq_many`), while the other banks go on matching; here the
  disabled bank is not the last enabled one, so no early return hides a missing check.
"""

from __future__ import annotations

import hashlib
import io

import pytest
import sqlalchemy as sa

from orbweaver.banks import create_bank, import_csv, set_enabled
from orbweaver.banks.matcher import Matcher
from orbweaver.clock import SettableClock
from orbweaver.signals import BytesSignalType, register_signal_type, unregister_signal_type
from orbweaver.signals.base import LinearIndex, SignalIndex
from orbweaver.store import Store
from orbweaver.store.models import Bank, BankEntry

P = hashlib.sha256(b"entry of the strict bank").hexdigest()
Q = format(int(P, 16) ^ ((1 << 256) - 1), "064x")  # 256 bits from P: never near it
SHA = hashlib.sha256(b"an exact entry").hexdigest()
MD5 = hashlib.md5(b"an exact entry").hexdigest()


def away(pdq: str, bits: int) -> str:
    """`pdq` with `bits` distinct bits flipped, spread over the hash: exactly `bits` away."""
    value = int(pdq, 16)
    for i in range(bits):
        value ^= 1 << (i * 256 // max(bits, 1))
    return f"{value:064x}"


class Signals:
    def __init__(self, pdq: str | None = None, sha256: str = "1" * 64, md5: str = "1" * 32):
        self.pdq = pdq
        self.pdq_quality = 100 if pdq else None
        self.sha256 = sha256
        self.sha1 = "1" * 40
        self.md5 = md5


def csv_of(*rows: tuple[str, str]) -> io.StringIO:
    body = "".join(f"{t},{s},csam_prepubescent,test\n" for t, s in rows)
    return io.StringIO("signal_type,signal,category,source\n" + body)


@pytest.mark.parametrize("threshold", [0, 7, 20])
def test_a_pdq_matches_at_the_bank_threshold_and_not_one_bit_beyond(
    store: Store, clock: SettableClock, threshold: int
) -> None:
    create_bank(store, clock, "strict", threshold=threshold)
    create_bank(store, clock, "loose", threshold=40)  # the index now searches to 40
    import_csv(store, clock, "strict", csv_of(("pdq", P)))
    import_csv(store, clock, "loose", csv_of(("pdq", Q)))
    matcher = Matcher(store)
    matcher.refresh()
    at = matcher.match(Signals(pdq=away(P, threshold))).matches
    assert [(m.bank, m.distance) for m in at] == [("strict", threshold)]
    assert matcher.match(Signals(pdq=away(P, threshold + 1))).matches == []
    assert [m.distance for m in matcher.match_pdq(away(P, threshold))] == [threshold]
    assert matcher.match_pdq(away(P, threshold + 1)) == []
    many = matcher.match_pdq_many([away(P, threshold), away(P, threshold + 1)])
    assert [[m.distance for m in hits] for hits in many] == [[threshold], []]


@pytest.mark.parametrize("threshold", [0, 12])
def test_a_pdq_matches_at_the_only_bank_threshold(
    store: Store, clock: SettableClock, threshold: int
) -> None:
    """One bank: the index bound and the bank's rule agree; both sides of the boundary (a
    threshold of 0 still matches the identical hash)."""
    create_bank(store, clock, "only", threshold=threshold)
    import_csv(store, clock, "only", csv_of(("pdq", P)))
    matcher = Matcher(store)
    matcher.refresh()
    at = away(P, threshold)
    assert [m.distance for m in matcher.match(Signals(pdq=at)).matches] == [threshold]
    assert [m.distance for m in matcher.match_pdq(at)] == [threshold]
    assert [[m.distance for m in hits] for hits in matcher.match_pdq_many([at])] == [[threshold]]
    assert matcher.match(Signals(pdq=away(P, threshold + 1))).matches == []


def test_a_disabled_bank_matches_nothing_while_the_others_still_match(
    store: Store, clock: SettableClock
) -> None:
    create_bank(store, clock, "first", threshold=31)
    create_bank(store, clock, "second", threshold=31)
    rows = (("pdq", P), ("sha256", SHA), ("md5", MD5))
    import_csv(store, clock, "first", csv_of(*rows))
    import_csv(store, clock, "second", csv_of(*rows))
    matcher = Matcher(store)
    matcher.refresh()
    media = Signals(pdq=away(P, 5), sha256=SHA, md5=MD5)

    def banks_matched() -> list[tuple[str, str]]:
        return sorted((m.bank, m.signal_type) for m in matcher.match(media).matches)

    everything = [(b, t) for b in ("first", "second") for t in ("md5", "pdq", "sha256")]
    assert banks_matched() == everything

    set_enabled(store, clock, "first", False)
    assert matcher.refresh() is True
    assert banks_matched() == [("second", "md5"), ("second", "pdq"), ("second", "sha256")]
    assert {m.bank for m in matcher.match_exact("sha256", SHA)} == {"second"}
    assert {m.bank for m in matcher.match_exact("md5", MD5)} == {"second"}
    assert {m.bank for m in matcher.match_exact("pdq", P)} == {"second"}
    assert {m.bank for m in matcher.match_pdq(away(P, 5))} == {"second"}
    assert [{m.bank for m in hits} for hits in matcher.match_pdq_many([P])] == [{"second"}]

    set_enabled(store, clock, "second", False)
    matcher.refresh()
    assert banks_matched() == []
    assert matcher.match_exact("sha256", SHA) == [] and matcher.match_pdq(P) == []
    assert matcher.match_pdq_many([P, away(P, 5)]) == [[], []]  # no bank: nothing searched

    set_enabled(store, clock, "first", True)  # enabled again: matches again, no restart
    matcher.refresh()
    assert banks_matched() == [("first", "md5"), ("first", "pdq"), ("first", "sha256")]


class ExactByScan(BytesSignalType):
    """A plug-in exact type whose index is not a dict (a linear scan at distance 0), as a type
    with a bespoke exact index would be."""

    name = "toy_exact_scan"

    def compute_bytes(self, data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()[:12]

    def normalize(self, value: str) -> str:
        text = value.strip().lower()
        if len(text) != 12 or any(c not in "0123456789abcdef" for c in text):
            raise ValueError(f"not a toy_exact_scan value: {value!r}")
        return text

    def new_index(self) -> SignalIndex:
        return LinearIndex(self)


def test_an_exact_type_without_a_dict_index_is_matched(store: Store, clock: SettableClock) -> None:
    kind = ExactByScan()
    register_signal_type(kind)
    try:
        create_bank(store, clock, "plug", threshold=31)
        import_csv(store, clock, "plug", csv_of((kind.name, "00112233aabb")))
        matcher = Matcher(store)
        matcher.refresh()
        media = Signals()
        media.extra = {kind.name: "00112233AABB"}  # type: ignore[attr-defined]
        found = [(m.bank, m.signal_type, m.distance) for m in matcher.match(media).matches]
        assert found == [("plug", kind.name, 0)]
        media.extra = {kind.name: "00112233aabc"}  # type: ignore[attr-defined]
        assert matcher.match(media).matches == []
    finally:
        unregister_signal_type(kind.name)


def test_an_entry_whose_category_is_not_known_here_never_matches(
    store: Store, clock: SettableClock
) -> None:
    """A row written by a newer version (or by hand) with a category this one does not know is
    loaded and counted but never reported: there is no label to report it under."""
    create_bank(store, clock, "b", threshold=31)
    import_csv(store, clock, "b", csv_of(("md5", MD5)))
    with store.session() as s:
        bank_id = s.scalars(sa.select(Bank.id)).one()
        s.add(
            BankEntry(
                bank_id=bank_id,
                signal_type="sha256",
                signal=SHA,
                category="a_label_from_the_future",
                added_at=clock.now().replace(tzinfo=None),
            )
        )
    matcher = Matcher(store)
    matcher.refresh()
    assert matcher.size == 2
    found = matcher.match(Signals(sha256=SHA, md5=MD5)).matches
    assert [(m.signal_type, m.category) for m in found] == [("md5", "csam_prepubescent")]
    assert matcher.match_exact("sha256", SHA) == []


def test_of_several_variants_the_closest_distance_is_kept(
    store: Store, clock: SettableClock
) -> None:
    create_bank(store, clock, "b", threshold=31)
    import_csv(store, clock, "b", csv_of(("pdq", P)))
    matcher = Matcher(store)
    matcher.refresh()
    for variants in ([away(P, 2), away(P, 7)], [away(P, 7), away(P, 2)]):
        assert [m.distance for m in matcher.match_pdq(variants)] == [2]


def test_rows_of_a_type_not_registered_here_are_never_indexed(
    store: Store, clock: SettableClock
) -> None:
    """A bank row of a type this version does not know (written by a newer one) is counted but
    never searched, even when its value looks like a PDQ hash."""
    create_bank(store, clock, "b", threshold=31)
    import_csv(store, clock, "b", csv_of(("pdq", P)))
    with store.session() as s:
        s.add(
            BankEntry(
                bank_id=s.scalars(sa.select(Bank.id)).one(),
                signal_type="future_type",
                signal=away(P, 1),
                category="csam_prepubescent",
                added_at=clock.now().replace(tzinfo=None),
            )
        )
    matcher = Matcher(store)
    matcher.refresh()
    assert matcher.size == 2
    assert [(m.signal_type, m.distance) for m in matcher.match_pdq(away(P, 1))] == [("pdq", 1)]
