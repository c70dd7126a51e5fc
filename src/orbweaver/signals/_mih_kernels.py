"""Compiled inner loops of the PDQ index (numba): probe buckets, verify on 256 bits.

In NumPy every probe step materialises an array (bucket starts, expanded ranges, gathered rows,
XORs, popcounts), so a lookup at 10M costs about 1 ms of temporaries and cache misses. Here one
pass per query gathers the probed buckets and verifies the candidates. ``nogil`` lets
concurrent searches from several threads run in parallel.

Each hot loop lives in its own small function whose arrays are never reassigned: a loop that
shares a function with an array being regrown pays numba reference counting on every
iteration (measured 8x slower on a scan).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, types
from numba.extending import intrinsic


def _popcount_intrinsic(typingctx: Any, x: Any) -> Any:
    """The CPU's popcount instruction (numba has no public popcount)."""
    sig = types.uint64(types.uint64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.ctpop(args[0])

    return sig, codegen


_popcount: Any = intrinsic(_popcount_intrinsic)


J = njit(nogil=True, cache=True)


@J
def _bucket_bounds(
    offsets: np.ndarray,
    keys: np.ndarray,
    table: np.ndarray,
    bucket_xor: np.ndarray,
    base: np.ndarray,
    starts: np.ndarray,
    stops: np.ndarray,
) -> int:  # pragma: no cover - jitted
    """Start and stop of every probed bucket (independent loads, overlapped by the CPU)."""
    total = 0
    for p in range(table.shape[0]):
        b = base[p] + (keys[table[p]] ^ bucket_xor[p])
        starts[p] = offsets[b]
        stops[p] = offsets[b + 1]
        total += stops[p] - starts[p]
    return total


@J
def _gather(
    postings: np.ndarray, starts: np.ndarray, stops: np.ndarray, rows: np.ndarray
) -> None:  # pragma: no cover - jitted
    k = 0
    for p in range(starts.shape[0]):
        for j in range(starts[p], stops[p]):
            rows[k] = postings[j]
            k += 1


@J
def _distances(
    words: np.ndarray, rows: np.ndarray, count: int, q: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - jitted
    """Distances of ``rows[:count]`` to ``q``: a branch-free loop the CPU pipelines."""
    q0, q1, q2, q3 = q[0], q[1], q[2], q[3]
    for k in range(count):
        r = rows[k]
        out[k] = (
            _popcount(words[r, 0] ^ q0)
            + _popcount(words[r, 1] ^ q1)
            + _popcount(words[r, 2] ^ q2)
            + _popcount(words[r, 3] ^ q3)
        )


@J
def _block_distances(
    words: np.ndarray, start: int, stop: int, q: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - jitted
    q0, q1, q2, q3 = q[0], q[1], q[2], q[3]
    for r in range(start, stop):
        out[r - start] = (
            _popcount(words[r, 0] ^ q0)
            + _popcount(words[r, 1] ^ q1)
            + _popcount(words[r, 2] ^ q2)
            + _popcount(words[r, 3] ^ q3)
        )


@J
def _select(
    dist: np.ndarray, count: int, threshold: int, hits: np.ndarray
) -> int:  # pragma: no cover - jitted
    """Positions ``k < count`` with ``dist[k] <= threshold`` into ``hits``, branch-free."""
    m = 0
    for k in range(count):
        hits[m] = k
        m += dist[k] <= threshold
    return m


@J
def _write(
    out_q: np.ndarray,
    out_r: np.ndarray,
    out_d: np.ndarray,
    n: int,
    qi: int,
    rows: np.ndarray,
    dist: np.ndarray,
    hits: np.ndarray,
    m: int,
) -> None:  # pragma: no cover - jitted
    for j in range(m):
        k = hits[j]
        out_q[n + j] = qi
        out_r[n + j] = rows[k]
        out_d[n + j] = dist[k]


@J
def _grow(a: np.ndarray, cap: int) -> np.ndarray:  # pragma: no cover - jitted
    out = np.empty(cap, a.dtype)
    out[: a.shape[0]] = a
    return out


@J
def probe(
    offsets: np.ndarray,
    postings: np.ndarray,
    words: np.ndarray,
    keys: np.ndarray,
    queries: np.ndarray,
    table: np.ndarray,
    bucket_xor: np.ndarray,
    base: np.ndarray,
    threshold: int,
    max_candidates: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - jitted
    """Hits ``(query, row, distance)`` and the queries too crowded to probe.

    A query whose candidates exceed ``max_candidates`` is skipped and reported in the last
    array, for the caller to scan: the answer stays exact either way. A row found through
    several tables is reported once per table; the caller dedupes.
    """
    starts = np.empty(table.shape[0], np.int64)
    stops = np.empty(table.shape[0], np.int64)
    crowded = np.zeros(queries.shape[0], np.bool_)
    rows = np.empty(1024, np.int64)
    dist = np.empty(1024, np.int32)
    hits = np.empty(1024, np.int64)
    out_q = np.empty(1024, np.int64)
    out_r = np.empty(1024, np.int64)
    out_d = np.empty(1024, np.int32)
    n = 0
    for qi in range(queries.shape[0]):
        total = _bucket_bounds(offsets, keys[qi], table, bucket_xor, base, starts, stops)
        if total > max_candidates:
            crowded[qi] = True
            continue
        if total > rows.shape[0]:
            rows = np.empty(2 * total, np.int64)
            dist = np.empty(2 * total, np.int32)
            hits = np.empty(2 * total, np.int64)
        _gather(postings, starts, stops, rows)
        _distances(words, rows, total, queries[qi], dist)
        m = _select(dist, total, threshold, hits)
        if n + m > out_q.shape[0]:
            cap = max(2 * out_q.shape[0], n + m)
            out_q, out_r, out_d = _grow(out_q, cap), _grow(out_r, cap), _grow(out_d, cap)
        _write(out_q, out_r, out_d, n, qi, rows, dist, hits, m)
        n += m
    return out_q[:n], out_r[:n], out_d[:n], np.flatnonzero(crowded)


@J
def scan(
    words: np.ndarray, queries: np.ndarray, threshold: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - jitted
    """Brute force ``(query, row, distance)``: the fallback for crowded or wide searches."""
    block = 4096
    dist = np.empty(block, np.int32)
    hits = np.empty(block, np.int64)
    rows = np.arange(block)
    out_q = np.empty(1024, np.int64)
    out_r = np.empty(1024, np.int64)
    out_d = np.empty(1024, np.int32)
    n = 0
    for qi in range(queries.shape[0]):
        for start in range(0, words.shape[0], block):
            stop = min(start + block, words.shape[0])
            _block_distances(words, start, stop, queries[qi], dist)
            m = _select(dist, stop - start, threshold, hits)
            if m == 0:
                continue
            if n + m > out_q.shape[0]:
                cap = max(2 * out_q.shape[0], n + m)
                out_q, out_r, out_d = _grow(out_q, cap), _grow(out_r, cap), _grow(out_d, cap)
            _write(out_q, out_r, out_d, n, qi, rows + start, dist, hits, m)
            n += m
    return out_q[:n], out_r[:n], out_d[:n]


# --- the ball index: the entries' substrings expanded by their radius, for many queries ---------
# Retroactive matching asks millions of queries of a small set of entries. Probing each query's
# Hamming ball costs one random bucket read per probe (hundreds a query at distance 31); here the
# entries' balls are stored instead, so a query reads one bucket per table, and every posting
# is a candidate verified on all 256 bits.

BALL_TABLES = 16
BALL_BITS = 16


@J
def permute_words(hashes: np.ndarray, lut: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    """``(n, 32)`` uint8 hashes to ``(n, 4)`` uint64 with their bits permuted by ``lut``
    (``(32, 256, 4)``: each byte value's bits at their permuted places); distances are kept."""
    for i in range(hashes.shape[0]):
        a0 = np.uint64(0)
        a1 = np.uint64(0)
        a2 = np.uint64(0)
        a3 = np.uint64(0)
        for p in range(32):
            v = hashes[i, p]
            a0 |= lut[p, v, 0]
            a1 |= lut[p, v, 1]
            a2 |= lut[p, v, 2]
            a3 |= lut[p, v, 3]
        out[i, 0] = a0
        out[i, 1] = a1
        out[i, 2] = a2
        out[i, 3] = a3


@J
def _ball_key(w: np.ndarray, t: int) -> int:  # pragma: no cover - jitted
    return int((w[t // 4] >> np.uint64(16 * (t % 4))) & np.uint64(0xFFFF))


@J
def ball_build(
    words: np.ndarray, radius: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """Bucket offsets and postings (entry rows) of every table: an entry is posted in each
    bucket within ``radius[t]`` (0 or 1; -1 skips the table) of its own key."""
    size = 1 << BALL_BITS
    counts = np.zeros(BALL_TABLES * size + 1, np.int64)
    n = words.shape[0]
    for i in range(n):
        for t in range(BALL_TABLES):
            r = radius[t]
            if r < 0:
                continue
            k = _ball_key(words[i], t)
            base = t * size + 1
            counts[base + k] += 1
            if r > 0:
                for b in range(BALL_BITS):
                    counts[base + (k ^ (1 << b))] += 1
    for j in range(1, counts.shape[0]):
        counts[j] += counts[j - 1]
    postings = np.empty(counts[-1], np.int32)
    cursor = counts[:-1].copy()
    for i in range(n):
        for t in range(BALL_TABLES):
            r = radius[t]
            if r < 0:
                continue
            k = _ball_key(words[i], t)
            base = t * size
            postings[cursor[base + k]] = i
            cursor[base + k] += 1
            if r > 0:
                for b in range(BALL_BITS):
                    kb = base + (k ^ (1 << b))
                    postings[cursor[kb]] = i
                    cursor[kb] += 1
    return counts, postings


@J
def _sort_queries(
    queries: np.ndarray, t: int, starts: np.ndarray, order: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - jitted
    """Counting sort of the queries by their key in table ``t``: ``out`` holds their words in
    that order, ``order`` their rows, ``starts`` each key's first position."""
    starts[:] = 0
    for k in range(queries.shape[0]):
        starts[_ball_key(queries[k], t) + 1] += 1
    for j in range(1, starts.shape[0]):
        starts[j] += starts[j - 1]
    cursor = starts[:-1].copy()
    for k in range(queries.shape[0]):
        key = _ball_key(queries[k], t)
        at = cursor[key]
        cursor[key] += 1
        order[at] = k
        out[at, 0] = queries[k, 0]
        out[at, 1] = queries[k, 1]
        out[at, 2] = queries[k, 2]
        out[at, 3] = queries[k, 3]


@J
def _join_bucket(
    postings: np.ndarray,
    p0: int,
    p1: int,
    words: np.ndarray,
    sorted_q: np.ndarray,
    order: np.ndarray,
    q0: int,
    q1: int,
    threshold: int,
    bucket: np.ndarray,
    hit_q: np.ndarray,
    hit_r: np.ndarray,
    hit_d: np.ndarray,
) -> int:  # pragma: no cover - jitted
    """Every query of one bucket against every entry posted there; -1 when the hits would not
    fit (the caller grows the buffers and asks again)."""
    count = p1 - p0
    for j in range(count):
        e = postings[p0 + j]
        bucket[j, 0] = words[e, 0]
        bucket[j, 1] = words[e, 1]
        bucket[j, 2] = words[e, 2]
        bucket[j, 3] = words[e, 3]
    m = 0
    cap = hit_q.shape[0]
    for k in range(q0, q1):
        a0, a1, a2, a3 = sorted_q[k, 0], sorted_q[k, 1], sorted_q[k, 2], sorted_q[k, 3]
        for j in range(count):
            d = (
                _popcount(bucket[j, 0] ^ a0)
                + _popcount(bucket[j, 1] ^ a1)
                + _popcount(bucket[j, 2] ^ a2)
                + _popcount(bucket[j, 3] ^ a3)
            )
            if d <= threshold:
                if m == cap:
                    return -1
                hit_q[m] = order[k]
                hit_r[m] = postings[p0 + j]
                hit_d[m] = d
                m += 1
    return m


@J
def ball_join(
    offsets: np.ndarray,
    postings: np.ndarray,
    words: np.ndarray,
    queries: np.ndarray,
    radius: np.ndarray,
    threshold: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - jitted
    """Hits ``(query, row, distance)`` of permuted ``queries`` against the ball index, exact
    when ``sum(radius[t] + 1) >= threshold + 1`` (pigeonhole); a pair found through several
    tables is reported once per table (the caller dedupes).

    A join rather than a lookup per query: per table the queries are counting-sorted by key,
    and each bucket's entries are read once for all the queries sharing it, so the entries'
    words are fetched once per bucket instead of once per query and candidate."""
    size = 1 << BALL_BITS
    starts = np.empty(size + 1, np.int64)
    order = np.empty(queries.shape[0], np.int64)
    sorted_q = np.empty((queries.shape[0], 4), np.uint64)
    widest = 1
    for b in range(offsets.shape[0] - 1):
        widest = max(widest, offsets[b + 1] - offsets[b])
    bucket = np.empty((widest, 4), np.uint64)
    hit_q = np.empty(1024, np.int64)
    hit_r = np.empty(1024, np.int64)
    hit_d = np.empty(1024, np.int32)
    out_q = np.empty(1024, np.int64)
    out_r = np.empty(1024, np.int64)
    out_d = np.empty(1024, np.int32)
    n = 0
    for t in range(BALL_TABLES):
        if radius[t] < 0:
            continue
        _sort_queries(queries, t, starts, order, sorted_q)
        for b in range(size):
            q0, q1 = starts[b], starts[b + 1]
            p0, p1 = offsets[t * size + b], offsets[t * size + b + 1]
            if q0 == q1 or p0 == p1:
                continue
            m = _join_bucket(
                postings,
                p0,
                p1,
                words,
                sorted_q,
                order,
                q0,
                q1,
                threshold,
                bucket,
                hit_q,
                hit_r,
                hit_d,
            )
            while m < 0:
                cap = 2 * hit_q.shape[0]
                hit_q = np.empty(cap, np.int64)
                hit_r = np.empty(cap, np.int64)
                hit_d = np.empty(cap, np.int32)
                m = _join_bucket(
                    postings,
                    p0,
                    p1,
                    words,
                    sorted_q,
                    order,
                    q0,
                    q1,
                    threshold,
                    bucket,
                    hit_q,
                    hit_r,
                    hit_d,
                )
            if m == 0:
                continue
            if n + m > out_q.shape[0]:
                cap = max(2 * out_q.shape[0], n + m)
                out_q, out_r, out_d = _grow(out_q, cap), _grow(out_r, cap), _grow(out_d, cap)
            out_q[n : n + m] = hit_q[:m]
            out_r[n : n + m] = hit_r[:m]
            out_d[n : n + m] = hit_d[:m]
            n += m
    return out_q[:n], out_r[:n], out_d[:n]


# --- substring keys and table builds without (n, m) temporaries ----------------------------------


@J
def substring_keys(
    hashes: np.ndarray, lut: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover
    """``out[i, t]``: the key of hash ``i`` in table ``t``; ``lut[t, byte, value]`` holds that
    byte value's bits at their places in table ``t``'s key."""
    for i in range(hashes.shape[0]):
        for t in range(lut.shape[0]):
            k = 0
            for p in range(32):
                k |= lut[t, p, hashes[i, p]]
            out[i, t] = k


@J
def substring_column(
    hashes: np.ndarray, lut: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover
    """One table's keys (``lut``: ``(32, 256)``) of every hash."""
    for i in range(hashes.shape[0]):
        k = 0
        for p in range(32):
            k |= lut[p, hashes[i, p]]
        out[i] = k


@J
def bucket_fill(
    keys: np.ndarray, first: int, offsets: np.ndarray, postings: np.ndarray
) -> None:  # pragma: no cover - jitted
    """Counting sort of rows by key: ``offsets`` (``2**w + 1``, starting at ``first``) and
    ``postings`` (rows in key order, ascending within a bucket)."""
    offsets[:] = 0
    for r in range(keys.shape[0]):
        offsets[keys[r] + 1] += 1
    offsets[0] = first
    for b in range(1, offsets.shape[0]):
        offsets[b] += offsets[b - 1]
    cursor = offsets[:-1].copy()
    for r in range(keys.shape[0]):
        k = keys[r]
        postings[cursor[k] - first] = r
        cursor[k] += 1
