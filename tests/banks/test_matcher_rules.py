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

from orbweaver.banks import create_bank, import_csv, set_enabled
from orbweaver.banks.matcher import Matcher
from orbweaver.clock import SettableClock
from orbweaver.store import Store

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


def test_a_pdq_matches_at_the_only_bank_threshold(store: Store, clock: SettableClock) -> None:
    """One bank: the index bound and the bank's rule agree; both sides of the boundary."""
    create_bank(store, clock, "only", threshold=12)
    import_csv(store, clock, "only", csv_of(("pdq", P)))
    matcher = Matcher(store)
    matcher.refresh()
    assert [m.distance for m in matcher.match(Signals(pdq=away(P, 12))).matches] == [12]
    assert matcher.match(Signals(pdq=away(P, 13))).matches == []


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

    set_enabled(store, clock, "first", True)  # enabled again: matches again, no restart
    matcher.refresh()
    assert banks_matched() == [("first", "md5"), ("first", "pdq"), ("first", "sha256")]
