"""Compiled inner loops of the PDQ index (numba): probe buckets, verify on 256 bits.

In NumPy every probe step materialises an array (bucket starts, expanded ranges, gathered rows,
XORs, popcounts), so a lookup at 10M costs about 1 ms of temporaries and cache misses. Here one
pass walks the probed buckets and verifies each candidate in registers. ``nogil`` lets
concurrent searches from several threads run in parallel.
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


@njit(nogil=True, cache=True)
def _distance(words: np.ndarray, row: int, q: np.ndarray) -> int:  # pragma: no cover - jitted
    return int(
        _popcount(words[row, 0] ^ q[0])
        + _popcount(words[row, 1] ^ q[1])
        + _popcount(words[row, 2] ^ q[2])
        + _popcount(words[row, 3] ^ q[3])
    )


@njit(nogil=True, cache=True)
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
    """Hits ``(query, row, distance)`` and the queries that were too crowded to probe.

    A query whose candidates exceed ``max_candidates`` is abandoned (its hits so far dropped)
    and reported in the last array, for the caller to scan: the answer stays exact either way.
    Rows found through several tables are reported once per table; the caller dedupes.
    """
    cap = 1024
    out_q = np.empty(cap, np.int64)
    out_r = np.empty(cap, np.int64)
    out_d = np.empty(cap, np.int32)
    crowded = np.zeros(queries.shape[0], np.bool_)
    n_probes = table.shape[0]
    starts = np.empty(n_probes, np.int64)
    stops = np.empty(n_probes, np.int64)
    rows = np.empty(1024, np.int64)
    n = 0
    for qi in range(queries.shape[0]):
        q = queries[qi]
        # Three passes, each of independent loads, so the CPU overlaps the cache misses.
        total = 0
        for p in range(n_probes):
            b = base[p] + (keys[qi, table[p]] ^ bucket_xor[p])
            starts[p] = offsets[b]
            stops[p] = offsets[b + 1]
        for p in range(n_probes):
            total += stops[p] - starts[p]
        if total > max_candidates:
            crowded[qi] = True
            continue
        if total > rows.shape[0]:
            rows = np.empty(2 * total, np.int64)
        k = 0
        for p in range(n_probes):
            for j in range(starts[p], stops[p]):
                rows[k] = postings[j]
                k += 1
        for k in range(total):
            row = rows[k]
            d = _distance(words, row, q)
            if d <= threshold:
                if n == cap:
                    cap *= 2
                    out_q = _grow(out_q, cap)
                    out_r = _grow(out_r, cap)
                    out_d = _grow(out_d, cap)
                out_q[n] = qi
                out_r[n] = row
                out_d[n] = d
                n += 1
    return out_q[:n], out_r[:n], out_d[:n], np.flatnonzero(crowded)


@njit(nogil=True, cache=True)
def _grow(a: np.ndarray, cap: int) -> np.ndarray:  # pragma: no cover - jitted
    out = np.empty(cap, a.dtype)
    out[: a.shape[0]] = a
    return out


@njit(nogil=True, cache=True)
def scan(
    words: np.ndarray, queries: np.ndarray, threshold: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - jitted
    """Brute force ``(query, row, distance)``: the fallback for crowded or wide searches."""
    cap = 1024
    out_q = np.empty(cap, np.int64)
    out_r = np.empty(cap, np.int64)
    out_d = np.empty(cap, np.int32)
    n = 0
    for row in range(words.shape[0]):
        for qi in range(queries.shape[0]):
            d = _distance(words, row, queries[qi])
            if d <= threshold:
                if n == cap:
                    cap *= 2
                    out_q = _grow(out_q, cap)
                    out_r = _grow(out_r, cap)
                    out_d = _grow(out_d, cap)
                out_q[n] = qi
                out_r[n] = row
                out_d[n] = d
                n += 1
    return out_q[:n], out_r[:n], out_d[:n]
