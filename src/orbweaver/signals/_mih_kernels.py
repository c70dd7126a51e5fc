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
