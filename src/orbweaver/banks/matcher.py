"""The match index over every enabled bank, kept in memory and following the store.

Crawler nodes and Shield API workers each hold one `Matcher`. `refresh()` is cheap when nothing
changed (two aggregate queries and a read of the few entries switched off or quarantined, through
a partial index), loads only entries added since the last refresh, and picks up banks being
enabled, disabled, re-thresholded or made negative and entries switched off, on or quarantined
(issue 17), so a serving process never needs a restart.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import sqlalchemy as sa

from orbweaver.categories import CATEGORIES
from orbweaver.signals import (
    PDQ,
    ExactIndex,
    IndexLoader,
    SignalIndex,
    SignalType,
    VpdqIndex,
    signal_types,
)
from orbweaver.store import Store
from orbweaver.store.models import Bank, BankEntry

_LOAD_CHUNK = 200_000


def _case(column: str, values: Sequence[str]) -> str:
    whens = " ".join(f"WHEN '{v}' THEN {code}" for code, v in enumerate(values))
    return f"CASE {column} {whens} ELSE -1 END"


def _chunk_sql(type_names: Sequence[str]) -> str:
    """The load query, signal types and categories coded by the database as their index in
    `type_names` and `CATEGORIES` (-1: not known here).

    Built from the registry's names (lower case letters, digits and `_`, checked on
    registration) and constants, so the text is safe to format; it runs on the raw DB-API
    cursor, whose parameter style differs between SQLite and PostgreSQL.
    """
    return (
        f"SELECT id, bank_id, {_case('signal_type', type_names)}, signal, "
        f"{_case('category', CATEGORIES)} FROM bank_entry "
        "WHERE id > {start:d} AND id <= {newest:d} AND removed_at IS NULL{banks} "
        "ORDER BY id LIMIT {chunk:d}"
    )


@dataclass(frozen=True)
class Match:
    """One bank entry that a media matched."""

    bank: str
    bank_id: int
    entry_id: int
    category: str
    signal_type: str
    distance: int
    video: VideoMatch | None = field(default=None, compare=False)
    """For a vPDQ match: both shares and the matched frames' timestamps."""
    held: bool = False
    """The entry is quarantined (a flood of matches): a detection, but no notice."""
    negative: bool = field(default=False, compare=False)
    """The entry is in a negative bank (an allow-list): it suppresses positive matches."""


@dataclass(frozen=True)
class VideoMatch:
    """How a video matched a bank video (python-threatexchange's two shares, in percent)."""

    query_match_percent: float
    compared_match_percent: float
    query_timestamps: tuple[float, ...]
    """The query's frames that matched (seconds): the Shield API's `near_match_details`."""
    compared_timestamps: tuple[float, ...]


@dataclass
class MatchResult:
    matches: list[Match] = field(default_factory=list)
    # Why a signal type was not matched, by type, when it was not (e.g. low PDQ quality).
    skipped: dict[str, str] = field(default_factory=dict)
    allowed_by: list[Match] = field(default_factory=list)
    """Negative-bank entries the media matched: when any, `matches` is empty and `suppressed`
    holds the positive matches they overruled."""
    suppressed: list[Match] = field(default_factory=list)

    @property
    def pdq_skipped(self) -> str | None:
        """Why perceptual matching on PDQ was not attempted, when it was not."""
        return self.skipped.get(PDQ.name)


@dataclass(frozen=True)
class _BankState:
    name: str
    enabled: bool
    threshold: int
    negative: bool = False
    distances: Mapping[str, int] = field(default_factory=dict)

    def distance_for(self, signal_type: SignalType) -> int:
        """How far this bank matches the type: its own setting, else the type's rule."""
        own = self.distances.get(signal_type.name)
        return own if own is not None else signal_type.threshold_for_bank(self.threshold)


def settle(matches: list[Match]) -> tuple[list[Match], list[Match], list[Match]]:
    """(positive matches, negative ones, positives they suppressed): one negative match
    suppresses every positive one of the same media."""
    negatives = [m for m in matches if m.negative]
    if not negatives:
        return matches, [], []
    return [], negatives, [m for m in matches if not m.negative]


class Matcher:
    """One index per registered signal type (a dict for exact types, PDQ's multi-index for
    PDQ), over the entries of every bank.

    The types are those registered when the matcher is made; entries of any other type are
    counted but not indexed. `quality_min` replaces the quality floor of the types that have
    one (PDQ's 50; the settings' `pdq_quality_min`).
    """

    def __init__(
        self, store: Store, *, quality_min: int | None = None, after_entry: int = 0
    ) -> None:
        """`after_entry`: index only entries with a larger id (retroactive matching's index of
        the entries that just arrived)."""
        self.store = store
        self.quality_min = quality_min
        self._lock = threading.RLock()
        self._refresh_lock = threading.Lock()
        self._banks: dict[int, _BankState] = {}
        self._types: tuple[SignalType, ...] = tuple(signal_types().values())
        self._codes = {t.name: code for code, t in enumerate(self._types)}
        self._indexes: tuple[SignalIndex, ...] = tuple(t.new_index() for t in self._types)
        # what `match` walks for each media: type, index, quality floor, and the dict lookup
        # of an exact index (the three crypto hashes of every crawled file take that path)
        self._plan = tuple(
            (
                t,
                index,
                self._quality_floor(t),
                index.lookup if isinstance(index, ExactIndex) else None,
            )
            for t, index in zip(self._types, self._indexes, strict=True)
        )
        self._chunk_sql = _chunk_sql([t.name for t in self._types])
        # Per-entry facts in flat arrays indexed by entry id: a few bytes an entry, so a bank of
        # ten million PDQ hashes costs tens of MiB here rather than gigabytes of Python objects.
        self._entry_bank = np.zeros(0, dtype=np.int32)
        self._entry_category = np.zeros(0, dtype=np.int8)
        self._count = 0
        self._watermark = after_entry
        self._watermark_floor = after_entry
        self._disabled: frozenset[int] = frozenset()
        self._held: frozenset[int] = frozenset()
        self._bank_fingerprint: tuple[object, ...] = ()
        self.loaded = False

    @property
    def size(self) -> int:
        return self._count

    @property
    def signal_types(self) -> tuple[SignalType, ...]:
        """The types this matcher indexes, in the order it reports matches."""
        return self._types

    def refresh(self) -> bool:
        """Load what changed in the store since the last call; True if anything did."""
        with self._refresh_lock:
            return self._refresh()

    def _refresh(self) -> bool:
        with self.store.session() as session:
            newest = session.scalar(sa.select(sa.func.max(BankEntry.id))) or 0
            banks = session.execute(
                sa.select(
                    Bank.id, Bank.name, Bank.enabled, Bank.pdq_threshold, Bank.kind, Bank.distances
                ).order_by(Bank.id)
            ).all()
            off = session.execute(
                sa.select(
                    BankEntry.id,
                    # withdrawn by its source (an exchange's deletion): off like a switched-off one
                    BankEntry.disabled_at.isnot(None) | BankEntry.removed_at.isnot(None),
                    BankEntry.quarantined_at,
                ).where(
                    BankEntry.disabled_at.isnot(None)
                    | BankEntry.quarantined_at.isnot(None)
                    | BankEntry.removed_at.isnot(None)
                )
            ).all()
        fingerprint = tuple((*row[:5], tuple(sorted((row[5] or {}).items()))) for row in banks)
        disabled = frozenset(int(r[0]) for r in off if r[1])
        held = frozenset(int(r[0]) for r in off if r[2] is not None)
        changed = False
        with self._lock:
            if fingerprint != self._bank_fingerprint:
                self._banks = {
                    row[0]: _BankState(
                        row[1], row[2], row[3], row[4] == "negative", dict(row[5] or {})
                    )
                    for row in banks
                }
                self._bank_fingerprint = fingerprint
                changed = True
            if disabled != self._disabled or held != self._held:
                self._disabled, self._held = disabled, held
                changed = True
        if newest > self._watermark:
            self._load_entries(newest)
            changed = True
        self.loaded = True
        return changed

    def load_negative_entries(self) -> int:
        """Also index the entries of negative banks at or below `after_entry` (retroactive
        matching: an allow-list entry that arrived earlier still suppresses a new positive
        one). Call after `refresh()`; returns how many were added."""
        negatives = [bank_id for bank_id, b in self._banks.items() if b.negative]
        upto = self._watermark_floor
        if not negatives or upto <= 0:
            return 0
        before = self._count
        self._load_range(0, upto, banks=negatives)
        return self._count - before

    def _load_entries(self, newest: int) -> None:
        self._load_range(self._watermark, newest)
        self._watermark = newest

    def _load_range(self, start: int, newest: int, *, banks: Sequence[int] = ()) -> None:
        """Read entries in id order, chunk by chunk, into each type's index loader.

        Rows come through the raw DB-API cursor as plain tuples (no ORM or Row objects), with
        categories and signal types already coded by the database. Each type's loader takes its
        rows chunk by chunk and publishes them when the load ends (PDQ's decodes them into one
        preallocated array and adds it as one segment; exact types' go straight into a dict).
        """
        first = start
        loaders: dict[int, IndexLoader] = {}
        self._grow(newest + 1)
        with self.store.engine.connect() as conn:
            cursor = conn.connection.cursor()
            try:
                while start < newest:
                    cursor.execute(self._chunk_query(start, newest, banks))
                    rows = cursor.fetchall()
                    if not rows:
                        break
                    self._add_rows(rows, loaders, newest - first)
                    start = int(rows[-1][0])
                    del rows
            finally:
                cursor.close()
        for loader in loaders.values():
            loader.finish()

    def _chunk_query(self, start: int, newest: int, banks: Sequence[int] = ()) -> str:
        where = f" AND bank_id IN ({', '.join(str(int(b)) for b in banks)})" if banks else ""
        return self._chunk_sql.format(
            start=int(start), newest=int(newest), chunk=_LOAD_CHUNK, banks=where
        )

    def _add_rows(
        self, rows: Sequence[Any], loaders: dict[int, IndexLoader], capacity: int
    ) -> None:
        """Record the rows' banks and categories, and hand each type's rows to its loader."""
        ids, bank_ids, type_codes, signals, categories = zip(*rows, strict=True)
        n = len(rows)
        id_array = np.fromiter(ids, dtype=np.int64, count=n)
        types = np.fromiter(type_codes, dtype=np.int8, count=n)
        self._entry_bank[id_array] = np.fromiter(bank_ids, dtype=np.int32, count=n)
        self._entry_category[id_array] = np.fromiter(categories, dtype=np.int8, count=n)
        self._count += n
        # slot 0 counts types not registered here (code -1): never indexed
        counts = np.bincount(types.astype(np.intp) + 1, minlength=len(self._types) + 1)
        present = np.flatnonzero(counts[1:]).tolist()
        for code in present:
            loader = loaders.get(code)
            if loader is None:
                loader = loaders[code] = self._indexes[code].loader(capacity)
            if len(present) == 1 and counts[0] == 0:  # one type (a big PDQ list): no split
                loader.extend(signals, id_array)
            else:
                rows_of = np.flatnonzero(types == code)
                loader.extend([signals[k] for k in rows_of.tolist()], id_array[rows_of])

    def _grow(self, size: int) -> None:
        if size <= len(self._entry_bank):
            return
        capacity = max(size, 2 * len(self._entry_bank))
        bank = np.zeros(capacity, dtype=np.int32)
        category = np.full(capacity, -1, dtype=np.int8)
        bank[: len(self._entry_bank)] = self._entry_bank
        category[: len(self._entry_category)] = self._entry_category
        self._entry_bank, self._entry_category = bank, category

    def _max_threshold(self, signal_type: SignalType) -> int:
        """The widest distance any enabled bank accepts for the type; -1 with none enabled."""
        enabled = [b.distance_for(signal_type) for b in self._banks.values() if b.enabled]
        return max(enabled, default=-1)

    def _as_match(self, entry_id: int, signal_type: SignalType, distance: int) -> Match | None:
        if entry_id >= len(self._entry_bank) or self._entry_category[entry_id] < 0:
            return None
        bank_id = int(self._entry_bank[entry_id])
        bank = self._banks.get(bank_id)
        if bank is None or not bank.enabled or entry_id in self._disabled:
            return None
        if not signal_type.exact and distance > bank.distance_for(signal_type):
            return None
        category = CATEGORIES[self._entry_category[entry_id]]
        return Match(
            bank.name,
            bank_id,
            entry_id,
            category,
            signal_type.name,
            distance,
            held=entry_id in self._held,
            negative=bank.negative,
        )

    def _type(self, name: str) -> tuple[SignalType, SignalIndex] | None:
        code = self._codes.get(name)
        return None if code is None else (self._types[code], self._indexes[code])

    def match_exact(self, signal_type: str, value: str) -> list[Match]:
        """Entries holding `value` itself (any type; a near type's at distance 0); none when a
        negative bank holds it."""
        found = self._type(signal_type)
        return [] if found is None else settle(self._exact(found[0], found[1], value))[0]

    def _exact(self, kind: SignalType, index: SignalIndex, value: str) -> list[Match]:
        key = kind.query_key(value)
        if key is None:
            return []  # not a value of this type: no entry holds it
        if isinstance(index, ExactIndex):
            ids = index.lookup(key)
            return self._matches([(i, 0) for i in ids], kind) if ids else []
        return self._matches([h for h in index.search([key], 0)[0] if h[1] == 0], kind)

    def match_near(self, signal_type: str, values: str | Sequence[str]) -> list[Match]:
        """Entries within their bank's threshold of the value (or of any of several variants),
        each once at its best distance, closest first; none when a negative bank's entry
        matches too."""
        return settle(self._near(signal_type, values))[0]

    def _near(self, signal_type: str, values: str | Sequence[str]) -> list[Match]:
        found = self._type(signal_type)
        variants = [values] if isinstance(values, str) else list(values)
        if found is None or not variants:
            return []
        kind, index = found
        threshold = self._max_threshold(kind)
        if threshold < 0:
            return []
        if isinstance(index, VpdqIndex):
            return self._match_videos(kind, index, variants, threshold)
        best: dict[int, int] = {}
        for hits in index.search(variants, threshold):
            for entry_id, distance in hits:
                if distance < best.get(entry_id, 1 << 30):
                    best[entry_id] = distance
        return self._matches(sorted(best.items(), key=lambda x: x[1]), kind)

    def _match_videos(
        self, kind: SignalType, index: VpdqIndex, values: Sequence[str], threshold: int
    ) -> list[Match]:
        """vPDQ: candidates per bank video from one frame search, each with both shares. Only
        videos within the threshold are wanted, so the frame search probes a sample of the
        query's frames (`min_query_percent`; exact, see `VpdqIndex`)."""
        out: list[Match] = []
        floor = 100.0 - threshold
        for value in values:
            for hit in index.search_videos(value, min_query_percent=floor):
                c = hit.comparison
                if c.distance > threshold:
                    continue
                match = self._as_match(hit.entry_id, kind, c.distance)
                if match is not None:
                    detail = VideoMatch(
                        round(c.query_match_percent, 2),
                        round(c.compared_match_percent, 2),
                        c.query_timestamps,
                        c.compared_timestamps,
                    )
                    out.append(replace(match, video=detail))
        return out

    def match_many(self, signal_type: str, values: Sequence[str]) -> list[list[Match]]:
        """One result list per value, searched as one batch (the Shield API's `/v1/pdq/`)."""
        found = self._type(signal_type)
        threshold = -1 if found is None else self._max_threshold(found[0])
        if found is None or threshold < 0 or not values:
            return [[] for _ in values]
        kind, index = found
        return [settle(self._matches(hits, kind))[0] for hits in index.search(values, threshold)]

    def match_pdq_arrays(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """PDQ hashes as `(n, 32)` bytes against the PDQ entries, every rule applied in bulk
        (bank enabled and positive, entry not switched off, within its bank's distance; a query
        that also hits a negative entry keeps nothing): (query row, entry id, distance) arrays.
        Quarantined entries stay in (their detections are held). Retroactive matching's path."""
        found = self._type(PDQ.name)
        empty = np.zeros(0, dtype=np.int64)
        threshold = -1 if found is None else self._max_threshold(found[0])
        index = getattr(found[1], "index", None) if found is not None else None
        if found is None or threshold < 0 or index is None or len(queries) == 0:
            return empty, empty, empty
        qi, ids, dist = index.search_flat(queries, threshold)
        if len(ids) == 0:
            return empty, empty, empty
        top = max(self._banks, default=0) + 1
        limit = np.full(top, -1, dtype=np.int64)
        negative = np.zeros(top, dtype=bool)
        for bank_id, bank in self._banks.items():
            if bank.enabled:
                limit[bank_id] = bank.distance_for(found[0])
                negative[bank_id] = bank.negative
        banks = self._entry_bank[ids]
        keep = (banks < top) & (dist <= limit[np.minimum(banks, top - 1)])
        if self._disabled:
            keep &= ~np.isin(ids, np.fromiter(self._disabled, dtype=np.int64))
        neg = keep & negative[np.minimum(banks, top - 1)]
        if neg.any():
            keep &= ~np.isin(qi, qi[neg])
        return qi[keep], ids[keep], dist[keep]

    def is_held(self, entry_id: int) -> bool:
        return entry_id in self._held

    def category_of(self, entry_id: int) -> str:
        return CATEGORIES[self._entry_category[entry_id]]

    def match_pdq(self, pdq_hex: str | list[str]) -> list[Match]:
        """PDQ entries within their bank's threshold of the hash (or of any of its variants)."""
        return self.match_near(PDQ.name, pdq_hex)

    def match_pdq_many(self, hashes: Sequence[str]) -> list[list[Match]]:
        """One result list per PDQ hash, searched as one batch (the Shield API's `/v1/pdq/`)."""
        return self.match_many(PDQ.name, hashes)

    def _matches(self, hits: Sequence[tuple[int, int]], kind: SignalType) -> list[Match]:
        found = (self._as_match(i, kind, d) for i, d in hits)
        return [m for m in found if m is not None]

    def _quality_floor(self, signal_type: SignalType) -> int | None:
        if signal_type.quality_floor is None:
            return None
        return signal_type.quality_floor if self.quality_min is None else self.quality_min

    def match(
        self,
        media: object,
        *,
        dihedral: list[str] | None = None,
        variants: Mapping[str, Sequence[str]] | None = None,
    ) -> MatchResult:
        """Every bank entry the media matches, type by type in registration order: exact on the
        exact types (the cryptographic hashes), near on the others (PDQ).

        `media` has an attribute (or an `extra` entry) named after each type it has a value of
        (`MediaSignals` does). `variants` replaces a type's value by several to search (closest
        kept); `dihedral`, the eight rotated/flipped PDQ hashes, finds mirrored copies as well.
        """
        wanted = variants
        if dihedral:
            wanted = {**(variants or {}), PDQ.name: dihedral}
        result = MatchResult()
        for kind, index, floor, lookup in self._plan:
            found, skipped = kind.queries(media, floor)
            if skipped is not None:
                result.skipped[kind.name] = skipped
            if not found:
                continue
            values = (wanted.get(kind.name) if wanted else None) or found
            if lookup is not None:
                for value in values:
                    key = kind.query_key(value)
                    ids = lookup(key) if key is not None else None
                    if ids:
                        result.matches.extend(self._matches([(i, 0) for i in ids], kind))
            elif kind.exact:
                for value in values:
                    result.matches.extend(self._exact(kind, index, value))
            else:
                result.matches.extend(self._near(kind.name, values))
        result.matches, result.allowed_by, result.suppressed = settle(result.matches)
        return result
