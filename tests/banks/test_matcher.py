"""The matcher: exact and near matches across banks, thresholds, and live bank changes."""

from __future__ import annotations

import io
from dataclasses import dataclass

from orbweaver.banks import create_bank, import_csv, set_enabled, set_threshold
from orbweaver.banks.matcher import Matcher
from orbweaver.clock import SettableClock
from orbweaver.store import Store

PDQ = "f8f8f0cce0f4e84d0e370a22028f67f0b36e2ed596623e1d33e6339c4e9c9b22"


def flip(hex_hash: str, bits: int) -> str:
    """The hash with its first `bits` bits spread over the 256 flipped."""
    value = int(hex_hash, 16)
    for i in range(bits):
        value ^= 1 << (i * 256 // max(bits, 1))
    return f"{value:064x}"


@dataclass(frozen=True)
class Signals:
    sha256: str = "0" * 64
    sha1: str = "0" * 40
    md5: str = "0" * 32
    pdq: str | None = None
    pdq_quality: int | None = 100


def csv_of(*rows: tuple[str, str, str]) -> io.StringIO:
    body = "".join(f"{t},{s},{c},test\n" for t, s, c in rows)
    return io.StringIO("signal_type,signal,category,source\n" + body)


def test_exact_and_near_matches(store: Store, clock: SettableClock) -> None:
    create_bank(store, clock, "strict", threshold=10)
    create_bank(store, clock, "loose", threshold=31)
    import_csv(store, clock, "strict", csv_of(("pdq", PDQ, "csam_prepubescent")))
    import_csv(
        store,
        clock,
        "loose",
        csv_of(("pdq", PDQ, "harmful_abusive"), ("md5", "a" * 32, "csam_postpubescent")),
    )
    matcher = Matcher(store)
    matcher.refresh()
    near = matcher.match(Signals(pdq=flip(PDQ, 20), md5="a" * 32))
    found = {(m.bank, m.signal_type, m.distance) for m in near.matches}
    assert found == {("loose", "pdq", 20), ("loose", "md5", 0)}
    exact = matcher.match(Signals(pdq=PDQ))
    assert {(m.bank, m.category) for m in exact.matches} == {
        ("strict", "csam_prepubescent"),
        ("loose", "harmful_abusive"),
    }
    assert matcher.match(Signals(pdq=flip(PDQ, 32))).matches == []


def test_low_quality_is_not_matched_perceptually(store: Store, clock: SettableClock) -> None:
    create_bank(store, clock, "b")
    import_csv(store, clock, "b", csv_of(("pdq", PDQ, "csam_prepubescent")))
    matcher = Matcher(store, quality_min=50)
    matcher.refresh()
    result = matcher.match(Signals(pdq=PDQ, pdq_quality=20))
    assert result.matches == []
    assert result.pdq_skipped is not None and "quality 20" in result.pdq_skipped


def test_refresh_follows_the_store_without_restart(store: Store, clock: SettableClock) -> None:
    create_bank(store, clock, "b", threshold=31)
    matcher = Matcher(store)
    matcher.refresh()
    assert matcher.match(Signals(pdq=PDQ)).matches == []
    import_csv(store, clock, "b", csv_of(("pdq", PDQ, "csam_prepubescent")))
    assert matcher.refresh() is True
    assert len(matcher.match(Signals(pdq=PDQ)).matches) == 1
    assert matcher.refresh() is False  # nothing changed: nothing reloaded
    set_threshold(store, clock, "b", 5)
    matcher.refresh()
    assert matcher.match(Signals(pdq=flip(PDQ, 8))).matches == []
    set_enabled(store, clock, "b", False)
    matcher.refresh()
    assert matcher.match(Signals(pdq=PDQ)).matches == []
    assert matcher.size == 1


def test_dihedral_variants_take_the_best_distance(store: Store, clock: SettableClock) -> None:
    create_bank(store, clock, "b")
    import_csv(store, clock, "b", csv_of(("pdq", PDQ, "csam_prepubescent")))
    matcher = Matcher(store)
    matcher.refresh()
    unrelated = "0f" * 32
    result = matcher.match(Signals(pdq=unrelated), dihedral=[unrelated, flip(PDQ, 3)])
    assert [(m.signal_type, m.distance) for m in result.matches] == [("pdq", 3)]
