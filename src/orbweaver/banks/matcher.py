"""The match index over every enabled bank, kept in memory and following the store.

Crawler nodes and Shield API workers each hold one `Matcher`. `refresh()` is cheap when nothing
changed (two aggregate queries), loads only entries added since the last refresh, and picks up
banks being enabled, disabled or re-thresholded, so a serving process never needs a restart.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import sqlalchemy as sa

from orbweaver.banks.index import PDQIndex, pdq_hex_to_bytes
from orbweaver.store import Store
from orbweaver.store.models import Bank, BankEntry

CRYPTO_SIGNALS = ("sha256", "sha1", "md5")
_LOAD_CHUNK = 200_000


class Fingerprints(Protocol):
    """What matching needs from a media's signals (`orbweaver.signals.MediaSignals` fits)."""

    @property
    def sha256(self) -> str: ...
    @property
    def sha1(self) -> str: ...
    @property
    def md5(self) -> str: ...
    @property
    def pdq(self) -> str | None: ...
    @property
    def pdq_quality(self) -> int | None: ...


@dataclass(frozen=True)
class Match:
    """One bank entry that a media matched."""

    bank: str
    bank_id: int
    entry_id: int
    category: str
    signal_type: str
    distance: int


@dataclass
class MatchResult:
    matches: list[Match] = field(default_factory=list)
    # Why perceptual matching was not attempted, when it was not (e.g. low PDQ quality).
    pdq_skipped: str | None = None


@dataclass(frozen=True)
class _BankState:
    name: str
    enabled: bool
    threshold: int


@dataclass(frozen=True)
class _Entry:
    bank_id: int
    category: str


class Matcher:
    """Exact lookups for cryptographic signals and a PDQ range index, over all banks."""

    def __init__(self, store: Store, *, quality_min: int = 50) -> None:
        self.store = store
        self.quality_min = quality_min
        self._lock = threading.RLock()
        self._banks: dict[int, _BankState] = {}
        self._exact: dict[tuple[str, str], list[int]] = defaultdict(list)
        self._entries: dict[int, _Entry] = {}
        self._pdq = PDQIndex()
        self._watermark = 0
        self._bank_fingerprint: tuple[object, ...] = ()
        self.loaded = False

    @property
    def size(self) -> int:
        return len(self._entries)

    def refresh(self) -> bool:
        """Load what changed in the store since the last call; True if anything did."""
        with self.store.session() as session:
            newest = session.scalar(sa.select(sa.func.max(BankEntry.id))) or 0
            banks = session.execute(
                sa.select(Bank.id, Bank.name, Bank.enabled, Bank.pdq_threshold).order_by(Bank.id)
            ).all()
        fingerprint = tuple(tuple(row) for row in banks)
        changed = False
        with self._lock:
            if fingerprint != self._bank_fingerprint:
                self._banks = {row[0]: _BankState(row[1], row[2], row[3]) for row in banks}
                self._bank_fingerprint = fingerprint
                changed = True
        if newest > self._watermark:
            self._load_entries(newest)
            changed = True
        self.loaded = True
        return changed

    def _load_entries(self, newest: int) -> None:
        start = self._watermark
        while start < newest:
            with self.store.session() as session:
                rows = session.execute(
                    sa.select(
                        BankEntry.id,
                        BankEntry.bank_id,
                        BankEntry.signal_type,
                        BankEntry.signal,
                        BankEntry.category,
                    )
                    .where(BankEntry.id > start, BankEntry.id <= newest)
                    .order_by(BankEntry.id)
                    .limit(_LOAD_CHUNK)
                ).all()
            if not rows:
                break
            self._add_rows(rows)
            start = rows[-1][0]
        self._watermark = newest

    def _add_rows(self, rows: Sequence[Any]) -> None:
        pdq_ids: list[int] = []
        pdq_hex: list[str] = []
        with self._lock:
            for entry_id, bank_id, signal_type, signal, category in rows:
                self._entries[entry_id] = _Entry(bank_id, category)
                if signal_type == "pdq":
                    pdq_ids.append(entry_id)
                    pdq_hex.append(signal)
                else:
                    self._exact[(signal_type, signal)].append(entry_id)
        if pdq_ids:
            self._pdq.add(pdq_hex_to_bytes(pdq_hex), np.asarray(pdq_ids, dtype=np.int64))

    def _max_threshold(self) -> int:
        enabled = [b.threshold for b in self._banks.values() if b.enabled]
        return max(enabled, default=-1)

    def _as_match(self, entry_id: int, signal_type: str, distance: int) -> Match | None:
        entry = self._entries.get(entry_id)
        if entry is None:
            return None
        bank = self._banks.get(entry.bank_id)
        if bank is None or not bank.enabled:
            return None
        if signal_type == "pdq" and distance > bank.threshold:
            return None
        return Match(bank.name, entry.bank_id, entry_id, entry.category, signal_type, distance)

    def match_exact(self, signal_type: str, value: str) -> list[Match]:
        ids = self._exact.get((signal_type, value.lower()), [])
        found = (self._as_match(i, signal_type, 0) for i in ids)
        return [m for m in found if m is not None]

    def match_pdq(self, pdq_hex: str | list[str]) -> list[Match]:
        """Entries within their bank's threshold of the hash (or of any of several variants)."""
        variants = [pdq_hex] if isinstance(pdq_hex, str) else pdq_hex
        threshold = self._max_threshold()
        if threshold < 0 or not variants:
            return []
        best: dict[int, int] = {}
        for hits in self._pdq.search_batch(pdq_hex_to_bytes(variants), threshold):
            for entry_id, distance in hits:
                if distance < best.get(entry_id, 257):
                    best[entry_id] = distance
        found = (self._as_match(i, "pdq", d) for i, d in sorted(best.items(), key=lambda x: x[1]))
        return [m for m in found if m is not None]

    def match(self, signals: Fingerprints, *, dihedral: list[str] | None = None) -> MatchResult:
        """Every bank entry the media matches: exact on any crypto signal, near on PDQ.

        `dihedral` (the eight rotated/flipped PDQ hashes) finds mirrored copies as well.
        """
        result = MatchResult()
        for signal_type in CRYPTO_SIGNALS:
            result.matches.extend(self.match_exact(signal_type, getattr(signals, signal_type)))
        if signals.pdq is None:
            result.pdq_skipped = "no PDQ hash (not a decodable image)"
        elif (signals.pdq_quality or 0) < self.quality_min:
            result.pdq_skipped = (
                f"PDQ quality {signals.pdq_quality} below {self.quality_min}: "
                "too little detail to match perceptually"
            )
        else:
            result.matches.extend(self.match_pdq(dihedral or signals.pdq))
        return result
