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
from orbweaver.store.models import CATEGORIES, Bank, BankEntry

CRYPTO_SIGNALS = ("sha256", "sha1", "md5")
_LOAD_CHUNK = 200_000
_PDQ_CODE = len(CRYPTO_SIGNALS)


def _case(column: str, values: Sequence[str]) -> str:
    whens = " ".join(f"WHEN '{v}' THEN {code}" for code, v in enumerate(values))
    return f"CASE {column} {whens} ELSE -1 END"


# Constants only (the three integers are ours), so the text is safe to format; it runs on the
# raw DB-API cursor, whose parameter style differs between SQLite and PostgreSQL.
_CHUNK_SQL = (
    f"SELECT id, bank_id, {_case('signal_type', (*CRYPTO_SIGNALS, 'pdq'))}, signal, "
    f"{_case('category', CATEGORIES)} FROM bank_entry "
    "WHERE id > {start:d} AND id <= {newest:d} ORDER BY id LIMIT {chunk:d}"
)


def _query_bytes(hashes: Sequence[str]) -> np.ndarray:
    """A few query hashes as ``(n, 32)`` bytes: `bytes.fromhex` when they are clean hex (the
    request path; a few microseconds), else the bank loader's decoder, which names a bad one."""
    if all(isinstance(h, str) and len(h) == 64 for h in hashes):
        try:
            raw = bytes.fromhex("".join(hashes))
        except ValueError:
            raw = b""
        if len(raw) == 32 * len(hashes):
            return np.frombuffer(raw, dtype=np.uint8).reshape(len(hashes), 32)
    return pdq_hex_to_bytes(list(hashes))


def _chunk_query(start: int, newest: int) -> str:
    return _CHUNK_SQL.format(start=int(start), newest=int(newest), chunk=_LOAD_CHUNK)


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


class Matcher:
    """Exact lookups for cryptographic signals and a PDQ range index, over all banks."""

    def __init__(self, store: Store, *, quality_min: int = 50) -> None:
        self.store = store
        self.quality_min = quality_min
        self._lock = threading.RLock()
        self._refresh_lock = threading.Lock()
        self._banks: dict[int, _BankState] = {}
        self._exact: dict[tuple[str, str], list[int]] = defaultdict(list)
        # Per-entry facts in flat arrays indexed by entry id: a few bytes an entry, so a bank of
        # ten million PDQ hashes costs tens of MiB here rather than gigabytes of Python objects.
        self._entry_bank = np.zeros(0, dtype=np.int32)
        self._entry_category = np.zeros(0, dtype=np.int8)
        self._count = 0
        self._pdq = PDQIndex()
        self._watermark = 0
        self._bank_fingerprint: tuple[object, ...] = ()
        self.loaded = False

    @property
    def size(self) -> int:
        return self._count

    def refresh(self) -> bool:
        """Load what changed in the store since the last call; True if anything did."""
        with self._refresh_lock:
            return self._refresh()

    def _refresh(self) -> bool:
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
        """Read entries in id order, chunk by chunk, and add their PDQ hashes in one batch.

        Rows come through the raw DB-API cursor as plain tuples (no ORM or Row objects), with
        categories and signal types already coded by the database. PDQ hashes are decoded
        straight into one preallocated array (untouched pages cost no memory, so sizing it by
        the id range is free), and handed to the index as one `add`: one segment build, and
        no list of per-chunk parts to concatenate next to it.
        """
        start = self._watermark
        span = newest - start
        pdq_hashes = np.empty((span, 32), dtype=np.uint8)
        pdq_ids = np.empty(span, dtype=np.int64)
        n_pdq = 0
        self._grow(newest + 1)
        with self.store.engine.connect() as conn:
            cursor = conn.connection.cursor()
            try:
                while start < newest:
                    cursor.execute(_chunk_query(start, newest))
                    rows = cursor.fetchall()
                    if not rows:
                        break
                    hashes, ids = self._add_rows(rows)
                    pdq_hashes[n_pdq : n_pdq + len(ids)] = hashes
                    pdq_ids[n_pdq : n_pdq + len(ids)] = ids
                    n_pdq += len(ids)
                    start = int(rows[-1][0])
                    del rows, hashes, ids
            finally:
                cursor.close()
        if n_pdq:
            # shrink in place (realloc, no copy) and hand the arrays to the index as they are
            pdq_hashes.resize((n_pdq, 32), refcheck=False)
            pdq_ids.resize(n_pdq, refcheck=False)
            self._pdq.add(pdq_hashes, pdq_ids, copy=False)
        self._watermark = newest

    def _add_rows(self, rows: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Record the rows' banks and categories; returns their PDQ hashes and ids to index."""
        ids, bank_ids, type_codes, signals, categories = zip(*rows, strict=True)
        n = len(rows)
        id_array = np.fromiter(ids, dtype=np.int64, count=n)
        types = np.fromiter(type_codes, dtype=np.int8, count=n)
        self._entry_bank[id_array] = np.fromiter(bank_ids, dtype=np.int32, count=n)
        self._entry_category[id_array] = np.fromiter(categories, dtype=np.int8, count=n)
        self._count += n
        exact = np.flatnonzero(types != _PDQ_CODE)
        if exact.size:
            with self._lock:
                for k in exact.tolist():
                    code = int(types[k])
                    if code >= 0:
                        self._exact[(CRYPTO_SIGNALS[code], signals[k])].append(ids[k])
        if exact.size == 0:
            return pdq_hex_to_bytes(signals), id_array
        pdq_rows = np.flatnonzero(types == _PDQ_CODE)
        pdq_hex = [signals[k] for k in pdq_rows.tolist()]
        return pdq_hex_to_bytes(pdq_hex), id_array[pdq_rows]

    def _grow(self, size: int) -> None:
        if size <= len(self._entry_bank):
            return
        capacity = max(size, 2 * len(self._entry_bank))
        bank = np.zeros(capacity, dtype=np.int32)
        category = np.full(capacity, -1, dtype=np.int8)
        bank[: len(self._entry_bank)] = self._entry_bank
        category[: len(self._entry_category)] = self._entry_category
        self._entry_bank, self._entry_category = bank, category

    def _max_threshold(self) -> int:
        enabled = [b.threshold for b in self._banks.values() if b.enabled]
        return max(enabled, default=-1)

    def _as_match(self, entry_id: int, signal_type: str, distance: int) -> Match | None:
        if entry_id >= len(self._entry_bank) or self._entry_category[entry_id] < 0:
            return None
        bank_id = int(self._entry_bank[entry_id])
        bank = self._banks.get(bank_id)
        if bank is None or not bank.enabled:
            return None
        if signal_type == "pdq" and distance > bank.threshold:
            return None
        category = CATEGORIES[self._entry_category[entry_id]]
        return Match(bank.name, bank_id, entry_id, category, signal_type, distance)

    def match_exact(self, signal_type: str, value: str) -> list[Match]:
        ids = self._exact.get((signal_type, value.lower()), [])
        found = (self._as_match(i, signal_type, 0) for i in ids)
        return [m for m in found if m is not None]

    def match_pdq(self, pdq_hex: str | list[str]) -> list[Match]:
        """Entries within their bank's threshold of the hash (or of any of several variants)."""
        variants = [pdq_hex] if isinstance(pdq_hex, str) else pdq_hex
        if not variants:
            return []
        threshold = self._max_threshold()
        if threshold < 0:
            return []
        best: dict[int, int] = {}
        for hits in self._pdq.search_batch(_query_bytes(variants), threshold):
            for entry_id, distance in hits:
                if distance < best.get(entry_id, 257):
                    best[entry_id] = distance
        return self._matches(best)

    def match_pdq_many(self, hashes: Sequence[str]) -> list[list[Match]]:
        """One result list per hash, searched as one batch (the Shield API's `/v1/pdq/`)."""
        threshold = self._max_threshold()
        if threshold < 0 or not hashes:
            return [[] for _ in hashes]
        results = self._pdq.search_batch(_query_bytes(hashes), threshold)
        return [self._matches(dict(hits)) for hits in results]

    def _matches(self, best: dict[int, int]) -> list[Match]:
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
