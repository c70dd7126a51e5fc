"""Exact PDQ range search by multi-index hashing (Norouzi, Punjani and Fleet, 2014).

A PDQ hash is 256 bits; two pictures match when their Hamming distance is at most a threshold
(31 by default). Scanning every entry is bound by memory bandwidth (about 60 lookups/s at 10M
entries on one core), so the index splits the bits into ``m`` substrings, keeps one
directly-addressed table per substring, and for a query probes each table within a small radius.

Exactness comes from the pigeonhole principle in its refined form: if the tables get radii
``r_i`` with ``sum(r_i + 1) >= threshold + 1`` (``r_i = -1`` meaning "skip this table"), then
every entry within ``threshold`` of the query agrees with it within ``r_i`` on some table ``i``,
since otherwise the distances on the substrings alone would add up to more than ``threshold``.
Every candidate is verified on all 256 bits, so nothing beyond the threshold is returned either.
When the probes or the candidates would cost more than a scan (large thresholds, or real-image
hashes crowding a few buckets) the segment is scanned instead: slower, never wrong.

Adds never rebuild the whole index: new entries land in a small brute-force delta, which is
flushed into a levelled set of immutable segments (level ``j`` holds at most ``DELTA * R**j``
entries), LSM-style, so each entry is rebuilt a few times over its life, not once per add.
Readers take one reference to the immutable state and never wait on a writer.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from orbweaver.signals import _mih_kernels as _kernels

HASH_BYTES = 32
HASH_BITS = 256
DEFAULT_DELTA = 8192
"""Entries kept in the brute-force delta before it is flushed into a segment."""
LEVEL_RATIO = 8
"""Size ratio between consecutive segment levels: fewer levels means fewer tables per query."""
DESIGN_THRESHOLD = 31
"""Threshold the table layout is tuned for (the bank default); every threshold stays exact."""
MEMORY_PER_ENTRY = 88
"""Table bytes per entry allowed when choosing a layout (under 1 GiB at 10M with the ids)."""
_PERM_SEED = 0x0B3A7E
"""Fixed bit permutation: spreads each substring over the 16x16 DCT grid, because neighbouring
PDQ bits (nearby frequencies) are correlated and would otherwise crowd buckets."""
BALL_MAX_ENTRIES = 1 << 18
"""Most entries `search_flat` serves from a ball index (1,088 bytes an entry at distance 31:
285 MiB at the cap); a bigger index answers by probing."""
BALL_QUERY_CHUNK = 1 << 20
"""Queries joined at once (40 MiB of sorted copies): each bucket's entries are read once for
every query sharing it, about 16 of them at 100,000 entries."""
BALL_MIN_QUERIES = 4096
"""Fewest queries in one `search_flat` call worth building (or reusing) the ball index for."""

# Rough costs in nanoseconds (one core), used only to choose between probing and scanning.
_COST_PROBE = 12.0
_COST_CANDIDATE = 25.0
_COST_SCAN = 1.6
_COST_TABLE = 2_000.0

_HEX_LUT = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX_LUT[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _HEX_LUT[_c] = 10 + _i


def pdq_hex_to_bytes(hexes: Sequence[str]) -> np.ndarray:
    """Decode PDQ hex strings into an ``(n, 32)`` uint8 array, vectorised for big bank loads.

    Raises ``ValueError`` naming the first malformed entry (wrong type, length or character).
    """
    n = len(hexes)
    if n == 0:
        return np.zeros((0, HASH_BYTES), dtype=np.uint8)
    for i, h in enumerate(hexes):
        if not isinstance(h, str) or len(h) != 2 * HASH_BYTES:
            raise ValueError(f"PDQ hash #{i} is not {2 * HASH_BYTES} hex characters: {h!r:.80}")
    try:
        raw = "".join(hexes).encode("ascii")
    except UnicodeEncodeError:
        bad = next(i for i, h in enumerate(hexes) if not h.isascii())
        raise ValueError(f"PDQ hash #{bad} has non-hex characters: {hexes[bad]!r}") from None
    nibbles = _HEX_LUT[np.frombuffer(raw, dtype=np.uint8)].reshape(n, 2 * HASH_BYTES)
    bad_rows = np.flatnonzero((nibbles == 255).any(axis=1))
    if bad_rows.size:
        bad = int(bad_rows[0])
        raise ValueError(f"PDQ hash #{bad} has non-hex characters: {hexes[bad]!r}")
    return (nibbles[:, 0::2] << 4) | nibbles[:, 1::2]


def _as_hashes(hashes: np.ndarray) -> np.ndarray:
    """Validate and normalise caller hashes to a C-contiguous ``(n, 32)`` uint8 array."""
    arr = np.asarray(hashes)
    if arr.ndim != 2 or arr.shape[1] != HASH_BYTES or arr.dtype != np.uint8:
        raise ValueError(f"hashes must be (n, {HASH_BYTES}) uint8, got {arr.shape} {arr.dtype}")
    return np.ascontiguousarray(arr)


def _as_query(query: np.ndarray | bytes) -> np.ndarray:
    """One query as ``(1, 32)`` uint8, from 32 bytes or a 32-byte array."""
    if isinstance(query, bytes | bytearray | memoryview):
        arr = np.frombuffer(bytes(query), dtype=np.uint8)
    else:
        arr = np.asarray(query, dtype=np.uint8)
    if arr.size != HASH_BYTES:
        raise ValueError(f"a PDQ query is {HASH_BYTES} bytes, got {arr.size}")
    return arr.reshape(1, HASH_BYTES)


def _check_threshold(threshold: int) -> int:
    t = int(threshold)
    if t < 0:
        raise ValueError(f"threshold must be >= 0, got {threshold}")
    return t


def _as_words(hashes: np.ndarray) -> np.ndarray:
    """View ``(n, 32)`` uint8 hashes as ``(n, 4)`` uint64 for XOR + popcount verification."""
    return hashes.view(np.uint64).reshape(-1, HASH_BYTES // 8)


@functools.cache
def _permutation() -> np.ndarray:
    return np.random.default_rng(_PERM_SEED).permutation(HASH_BITS)


@functools.cache
def _masks(bits: int, radius: int) -> np.ndarray:
    """Every ``bits``-bit value with popcount <= radius: the XOR masks probing one table."""
    out = [0]
    for r in range(1, radius + 1):
        for combo in itertools.combinations(range(bits), r):
            out.append(sum(1 << b for b in combo))
    masks = np.array(out, dtype=np.int64)
    masks.flags.writeable = False
    return masks


def _ball(bits: int, radius: int) -> int:
    """Size of the Hamming ball of ``radius`` in ``bits`` bits (number of probes)."""
    return sum(math.comb(bits, r) for r in range(radius + 1)) if radius >= 0 else 0


def scan(words: np.ndarray, queries: np.ndarray, threshold: int) -> tuple[np.ndarray, ...]:
    """Brute force: ``(query_index, row, distance)`` for all pairs within ``threshold``."""
    return _kernels.scan(words, _as_words(queries), threshold)


@dataclass(frozen=True)
class _Plan:
    """How one segment answers one threshold: flat probe list, or ``scan`` when cheaper."""

    scan: bool
    table: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """Substring index of each probe."""
    bucket_xor: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """XOR mask of each probe."""
    base: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """Offset of the probe's table in the flat bucket-offset array."""
    max_candidates: int = 0
    """Above this many candidates for one query, a scan is cheaper (crowded buckets)."""


def _allocate_radii(widths: Sequence[int], n: int, threshold: int) -> tuple[list[int], float]:
    """Radii with ``sum(r_i + 1) == threshold + 1`` minimising the estimated probe cost.

    Marginal cost of raising one radius grows with the radius, so the greedy choice is optimal.
    Returns the radii (``-1`` = table not probed) and the estimated cost in nanoseconds.
    """

    def cost(w: int, r: int) -> float:
        probes = _ball(w, r)
        return probes * (_COST_PROBE + _COST_CANDIDATE * n / (1 << w))

    radii = [-1] * len(widths)
    heap = [(cost(w, 0), i) for i, w in enumerate(widths)]
    heapq.heapify(heap)
    total = 0.0
    for _ in range(threshold + 1):
        if not heap:
            return radii, math.inf  # more budget than bits: a scan is the only sensible answer
        step, i = heapq.heappop(heap)
        radii[i] += 1
        total += step
        if radii[i] < widths[i]:
            w = widths[i]
            heapq.heappush(heap, (cost(w, radii[i] + 1) - cost(w, radii[i]), i))
    tables = sum(1 for r in radii if r >= 0)
    return radii, total + tables * _COST_TABLE


def choose_layout(n: int, threshold: int = DESIGN_THRESHOLD) -> list[int]:
    """Substring widths for a segment of ``n`` entries: cheapest at ``threshold`` within memory.

    Tables are directly addressed (``2**w`` offsets each), so ``w`` near ``log2(n)`` keeps
    buckets about one entry deep; the memory cap decides how many tables fit.
    """
    best: tuple[float, list[int]] | None = None
    budget = MEMORY_PER_ENTRY * max(n, 1) + (4 << 20)
    for w in range(8, 25):
        for m in range(1, HASH_BITS // w + 1):
            widths = [w] * m
            if m * (4 * n + 4 * ((1 << w) + 1)) > budget:
                break
            _, est = _allocate_radii(widths, n, threshold)
            if best is None or est < best[0]:
                best = (est, widths)
    assert best is not None
    return best[1]


class _Segment:
    """An immutable multi-index over a fixed set of hashes."""

    def __init__(self, hashes: np.ndarray, ids: np.ndarray, widths: Sequence[int] | None = None):
        self.hashes = hashes
        self.words = _as_words(hashes)
        self.ids = ids
        self.widths = list(widths) if widths is not None else choose_layout(len(ids))
        if sum(self.widths) > HASH_BITS or max(self.widths) > 24:
            raise ValueError(f"bad substring widths {self.widths}")
        perm = _permutation()
        starts = np.cumsum([0, *self.widths])
        self.substrings = [perm[starts[i] : starts[i + 1]] for i in range(len(self.widths))]
        self._lut = self._key_lut()
        sizes = np.array([(1 << w) + 1 for w in self.widths], dtype=np.int64)
        self.table_base = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        self.offsets, self.postings = self._build()
        self._plans: dict[int, _Plan] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def _key_lut(self) -> np.ndarray:
        """``lut[t, byte, value]``: the value's bits at their places in table ``t``'s key (the
        substring's first bit is the key's highest)."""
        lut = np.zeros((len(self.widths), HASH_BYTES, 256), dtype=np.int32)
        values = np.arange(256)
        for t, bits in enumerate(self.substrings):
            for j, o in enumerate(bits.tolist()):
                has = ((values >> (7 - o % 8)) & 1) == 1
                lut[t, o // 8, has] |= 1 << (len(bits) - 1 - j)
        return lut

    def keys(self, hashes: np.ndarray) -> np.ndarray:
        """Substring keys, ``(n, m)`` int32."""
        out = np.empty((len(hashes), len(self.widths)), dtype=np.int32)
        _kernels.substring_keys(hashes, self._lut, out)
        return out

    def _build(self) -> tuple[np.ndarray, np.ndarray]:
        """Counting-sort each table: flat ``offsets`` per bucket, flat ``postings`` of rows.
        One table's keys at a time (4 bytes an entry), not all tables' keys and sort buffers
        at once (about 100 bytes an entry: 5.5 GiB of temporaries at 60M entries)."""
        n, m = len(self.ids), len(self.widths)
        off_dtype = np.int32 if m * n < 2**31 else np.int64
        offsets = np.empty(int(self.table_base[-1]) + (1 << self.widths[-1]) + 1, dtype=off_dtype)
        postings = np.empty(m * n, dtype=np.int32)
        column = np.empty(n, dtype=np.int32)
        for t, w in enumerate(self.widths):
            _kernels.substring_column(self.hashes, self._lut[t], column)
            base = int(self.table_base[t])
            _kernels.bucket_fill(
                column, t * n, offsets[base : base + (1 << w) + 1], postings[t * n : (t + 1) * n]
            )
        return offsets, postings

    def memory_bytes(self) -> int:
        return int(self.offsets.nbytes + self.postings.nbytes + self.ids.nbytes)

    def plan(self, threshold: int) -> _Plan:
        """The probe plan for ``threshold``, cached (plans are immutable, races are harmless)."""
        plan = self._plans.get(threshold)
        if plan is None:
            plan = self._make_plan(threshold)
            self._plans[threshold] = plan
        return plan

    def _make_plan(self, threshold: int) -> _Plan:
        n = len(self)
        radii, est = _allocate_radii(self.widths, n, threshold)
        scan_cost = _COST_SCAN * n
        if est > scan_cost:
            return _Plan(scan=True)
        tables, masks, bases = [], [], []
        for t, (w, r) in enumerate(zip(self.widths, radii, strict=True)):
            if r < 0:
                continue
            mk = _masks(w, r)
            masks.append(mk)
            tables.append(np.full(mk.size, t, dtype=np.int64))
            bases.append(np.full(mk.size, self.table_base[t], dtype=np.int64))
        probes = sum(mk.size for mk in masks)
        max_cand = int((scan_cost - probes * _COST_PROBE) / _COST_CANDIDATE)
        return _Plan(
            scan=False,
            table=np.concatenate(tables),
            bucket_xor=np.concatenate(masks),
            base=np.concatenate(bases),
            max_candidates=max(max_cand, 0),
        )

    def search(self, queries: np.ndarray, threshold: int) -> tuple[np.ndarray, ...]:
        """``(query_index, id, distance)`` of every entry within ``threshold`` of a query."""
        plan = self.plan(threshold)
        if plan.scan:
            qi, rows, dist = scan(self.words, queries, threshold)
            return qi, self.ids[rows], dist
        keys = self.keys(queries)
        qi, rows, dist, crowded = _kernels.probe(
            self.offsets,
            self.postings,
            self.words,
            keys,
            _as_words(queries),
            plan.table,
            plan.bucket_xor,
            plan.base,
            threshold,
            plan.max_candidates,
        )
        if len(rows) > 1:  # one row can be found through several tables
            _, first = np.unique(qi * len(self) + rows, return_index=True)
            qi, rows, dist = qi[first], rows[first], dist[first]
        if len(crowded):
            cq, crows, cdist = scan(self.words, queries[crowded], threshold)
            qi = np.concatenate([qi, crowded[cq]])
            rows = np.concatenate([rows, crows])
            dist = np.concatenate([dist, cdist])
        return qi, self.ids[rows], dist


@functools.cache
def _ball_lut() -> np.ndarray:
    """``lut[byte, value]``: that byte's bits at their places in the permuted hash, as 4 words
    (bit ``p`` of the permuted hash is bit ``_permutation()[p]`` of the hash, as in `_Segment`)."""
    perm = _permutation()
    lut = np.zeros((HASH_BYTES, 256, 4), dtype=np.uint64)
    values = np.arange(256)
    for p, o in enumerate(perm.tolist()):
        has = ((values >> (7 - o % 8)) & 1) == 1
        lut[o // 8, has, p // 64] |= np.uint64(1 << (p % 64))
    lut.flags.writeable = False
    return lut


def _permuted_words(hashes: np.ndarray) -> np.ndarray:
    out = np.empty((len(hashes), 4), dtype=np.uint64)
    _kernels.permute_words(hashes, _ball_lut(), out)
    return out


def ball_radii(threshold: int) -> np.ndarray | None:
    """Radius of each of the ball index's 16 tables of 16 bits with ``sum(r + 1) == threshold
    + 1`` (``-1``: table unused), or None above 31, where the balls would grow too big."""
    tables = _kernels.BALL_TABLES
    if threshold < 0 or threshold >= 2 * tables:
        return None
    if threshold < tables:
        radius = [0] * (threshold + 1) + [-1] * (tables - threshold - 1)
    else:
        ones = threshold + 1 - tables
        radius = [1] * ones + [0] * (tables - ones)
    return np.array(radius, dtype=np.int64)


class BallIndex:
    """Exact range search for many queries against few entries (retroactive matching).

    The permuted 256 bits are cut into 16 substrings of 16 bits, and each entry is posted in
    every bucket within its table's radius of its own substring (the multi-index's probes
    done once per entry instead of once per query). A query then reads one bucket per table
    and verifies the postings there on all 256 bits: no probe loop, and at distance 31 against
    100,000 random entries about 415 candidates in 16 buckets. Queries are joined with the
    buckets table by table (sorted by key), so each bucket is read once for all its queries.
    Exact by the same pigeonhole bound as `PDQIndex`; memory is ``4 * sum(ball sizes)`` bytes
    an entry (1,088 at 31)."""

    def __init__(self, hashes: np.ndarray, ids: np.ndarray, threshold: int) -> None:
        radius = ball_radii(threshold)
        if radius is None:
            raise ValueError(f"a ball index serves thresholds 0..31, not {threshold}")
        self.threshold = threshold
        self.radius = radius
        self.ids = np.asarray(ids, dtype=np.int64)
        self.words = _permuted_words(_as_hashes(hashes))
        self.offsets, self.postings = _kernels.ball_build(self.words, radius)

    def __len__(self) -> int:
        return len(self.ids)

    def memory_bytes(self) -> int:
        return int(self.offsets.nbytes + self.postings.nbytes + self.words.nbytes)

    def search(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(query row, id, distance)`` of every pair within the threshold, each once."""
        q = _as_hashes(queries)
        parts = []
        for s in range(0, len(q), BALL_QUERY_CHUNK):
            qi, rows, dist = _kernels.ball_join(
                self.offsets,
                self.postings,
                self.words,
                _permuted_words(q[s : s + BALL_QUERY_CHUNK]),
                self.radius,
                self.threshold,
            )
            if len(rows) > 1:  # one pair can be found through several tables
                _, first = np.unique(qi * len(self) + rows, return_index=True)
                qi, rows, dist = qi[first], rows[first], dist[first]
            parts.append((qi + s, self.ids[rows], dist.astype(np.int64)))
        if not parts:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        return (
            np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]),
        )


@dataclass(frozen=True)
class _State:
    """Everything a reader needs, replaced wholesale by writers (copy-on-write)."""

    levels: tuple[_Segment | None, ...] = ()
    delta_hashes: np.ndarray = field(
        default_factory=lambda: np.zeros((0, HASH_BYTES), dtype=np.uint8)
    )
    delta_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


class PDQIndex:
    """Exact PDQ Hamming range search over an append-only set of ``(hash, id)`` entries.

    Thread-safe: searches run concurrently with an ``add``; an add (and any merge it triggers)
    holds a writer lock, and readers see either the old or the new entries, never half of them.
    Bulk loads are cheapest as one big ``add``; small adds are amortised by the LSM levels.
    """

    def __init__(self, *, delta_capacity: int = DEFAULT_DELTA) -> None:
        self._delta_capacity = delta_capacity
        self._state = _State()
        self._lock = threading.Lock()
        self._ball: tuple[_State, BallIndex] | None = None

    def __len__(self) -> int:
        state = self._state
        return len(state.delta_ids) + sum(len(s) for s in state.levels if s is not None)

    def memory_bytes(self) -> int:
        """Bytes held beyond the raw 32-byte hashes: tables, postings and the caller ids."""
        state = self._state
        tables = sum(s.memory_bytes() for s in state.levels if s is not None)
        return tables + int(state.delta_ids.nbytes)

    def add(self, hashes: np.ndarray, ids: np.ndarray, *, copy: bool = True) -> None:
        """Add entries; a big batch becomes a segment at once, small ones go to the delta.

        With `copy=False` the index takes the arrays as they are when it has nothing pending to
        merge them with, and the caller must not change them afterwards: a loader's one big
        batch is then not held twice while its segment is built (0.3 GiB at 10M entries)."""
        h = _as_hashes(hashes)
        i = np.ascontiguousarray(np.asarray(ids, dtype=np.int64)).reshape(-1)
        if len(h) != len(i):
            raise ValueError(f"{len(h)} hashes but {len(i)} ids")
        if len(h) == 0:
            return
        with self._lock:
            state = self._state
            if not copy and len(state.delta_ids) == 0:
                dh, di = h, i
            else:
                dh = np.concatenate([state.delta_hashes, h])
                di = np.concatenate([state.delta_ids, i])
            if len(di) <= self._delta_capacity:
                self._state = _State(state.levels, dh, di)
                return
            levels = self._push(list(state.levels), dh, di)
            self._state = _State(tuple(levels))

    def _capacity(self, level: int) -> int:
        return self._delta_capacity * LEVEL_RATIO**level

    def _push(
        self, levels: list[_Segment | None], hashes: np.ndarray, ids: np.ndarray
    ) -> list[_Segment | None]:
        """Merge a run into the first level that can hold it, carrying overflow upwards."""
        level = 1
        while self._capacity(level) < len(ids):
            level += 1
        while True:
            while len(levels) <= level:
                levels.append(None)
            existing = levels[level]
            if existing is not None:
                hashes = np.concatenate([existing.hashes, hashes])
                ids = np.concatenate([existing.ids, ids])
                levels[level] = None
            if len(ids) <= self._capacity(level):
                levels[level] = _Segment(hashes, ids)
                return levels
            level += 1

    def search(self, query: np.ndarray | bytes, threshold: int) -> list[tuple[int, int]]:
        """``(id, distance)`` of every entry within ``threshold``, by distance then id."""
        return self.search_batch(_as_query(query), threshold)[0]

    def search_batch(self, queries: np.ndarray, threshold: int) -> list[list[tuple[int, int]]]:
        """One result list per query row, each as :meth:`search` would return it."""
        q = np.ascontiguousarray(np.asarray(queries, dtype=np.uint8))
        return _group(self._parts(q, threshold), len(q))

    def search_flat(
        self, queries: np.ndarray, threshold: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every hit as three arrays (query row, id, distance), unordered: for millions of
        queries (retroactive matching), where per-query lists would cost more than the search."""
        q = np.ascontiguousarray(np.asarray(queries, dtype=np.uint8))
        ball = self._ball_for(len(q), threshold)
        if ball is not None:
            return ball.search(q)
        parts = self._parts(q, threshold)
        if not parts:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        return (
            np.concatenate([p[0] for p in parts]).astype(np.int64),
            np.concatenate([p[1] for p in parts]).astype(np.int64),
            np.concatenate([p[2] for p in parts]).astype(np.int64),
        )

    def _ball_for(self, queries: int, threshold: int) -> BallIndex | None:
        """The ball index of the current entries at ``threshold`` when it pays (many queries,
        few entries), built once and kept until the entries change."""
        state = self._state
        entries = len(state.delta_ids) + sum(len(s) for s in state.levels if s is not None)
        if (
            queries < BALL_MIN_QUERIES
            or not 0 < entries <= BALL_MAX_ENTRIES
            or ball_radii(_check_threshold(threshold)) is None
        ):
            return None
        cached = self._ball
        if cached is not None and cached[0] is state and cached[1].threshold == threshold:
            return cached[1]
        segments = [s for s in state.levels if s is not None]
        hashes = np.concatenate([*(s.hashes for s in segments), state.delta_hashes])
        ids = np.concatenate([*(s.ids for s in segments), state.delta_ids])
        ball = BallIndex(hashes, ids, threshold)
        self._ball = (state, ball)
        return ball

    def _parts(self, q: np.ndarray, threshold: int) -> list[tuple[np.ndarray, ...]]:
        if q.ndim != 2 or q.shape[1] != HASH_BYTES:
            raise ValueError(f"queries must be (n, {HASH_BYTES}) uint8, got {q.shape}")
        t = _check_threshold(threshold)
        state = self._state
        parts = [s.search(q, t) for s in state.levels if s is not None]
        if len(state.delta_ids):
            qi, rows, dist = scan(_as_words(state.delta_hashes), q, t)
            parts.append((qi, state.delta_ids[rows], dist))
        return parts


def _group(parts: list[tuple[np.ndarray, ...]], nq: int) -> list[list[tuple[int, int]]]:
    """Merge per-segment hits into per-query lists sorted by distance, then id."""
    if not parts:
        return [[] for _ in range(nq)]
    qi = np.concatenate([p[0] for p in parts])
    ids = np.concatenate([p[1] for p in parts])
    dist = np.concatenate([p[2] for p in parts])
    if len(qi) == 0:  # the common case: a single lookup with no match
        return [[] for _ in range(nq)]
    order = np.lexsort((ids, dist, qi))
    qi, ids, dist = qi[order], ids[order], dist[order]
    bounds = np.searchsorted(qi, np.arange(nq + 1))
    pairs = list(zip(ids.tolist(), dist.tolist(), strict=True))
    return [pairs[bounds[k] : bounds[k + 1]] for k in range(nq)]


# --- the PDQ signal type's index: hex values in, (id, distance) hits out ---------------------


def query_bytes(hashes: Sequence[str]) -> np.ndarray:
    """A few query hashes as ``(n, 32)`` bytes: `bytes.fromhex` when they are clean hex (the
    request path; a few microseconds), else the bank loader's decoder, which names a bad one."""
    if all(isinstance(h, str) and len(h) == 2 * HASH_BYTES for h in hashes):
        try:
            raw = bytes.fromhex("".join(hashes))
        except ValueError:
            raw = b""
        if len(raw) == HASH_BYTES * len(hashes):
            return np.frombuffer(raw, dtype=np.uint8).reshape(len(hashes), HASH_BYTES)
    return pdq_hex_to_bytes(list(hashes))


class PDQHexIndex:
    """`PDQIndex` behind the interface every signal type's index offers (`SignalIndex`)."""

    def __init__(self, index: PDQIndex | None = None) -> None:
        self.index = PDQIndex() if index is None else index

    def __len__(self) -> int:
        return len(self.index)

    def add(self, values: Sequence[str], ids: Sequence[int] | np.ndarray) -> None:
        self.index.add(pdq_hex_to_bytes(values), np.asarray(ids, dtype=np.int64))

    def loader(self, capacity: int) -> PDQBulkLoader:
        return PDQBulkLoader(self.index, capacity)

    def search(self, queries: Sequence[str], threshold: int) -> list[list[tuple[int, int]]]:
        if not queries:
            return []
        return self.index.search_batch(query_bytes(queries), threshold)


class PDQBulkLoader:
    """A store load's PDQ hashes, decoded straight into one preallocated array (pages never
    touched cost no memory, so sizing it by the id range is free) and handed to the index as
    one `add` without a copy: one segment build, and no list of per-chunk parts to concatenate
    next to it (0.3 GiB at 10M entries)."""

    def __init__(self, index: PDQIndex, capacity: int) -> None:
        self.index = index
        self.hashes = np.empty((capacity, HASH_BYTES), dtype=np.uint8)
        self.ids = np.empty(capacity, dtype=np.int64)
        self.count = 0

    def extend(self, values: Sequence[str], ids: Sequence[int] | np.ndarray) -> None:
        n = len(values)
        self.hashes[self.count : self.count + n] = pdq_hex_to_bytes(values)
        self.ids[self.count : self.count + n] = ids
        self.count += n

    def finish(self) -> None:
        if self.count:
            # shrink in place (realloc, no copy) and hand the arrays to the index as they are
            self.hashes.resize((self.count, HASH_BYTES), refcheck=False)
            self.ids.resize(self.count, refcheck=False)
            self.index.add(self.hashes, self.ids, copy=False)
        self.count = 0
