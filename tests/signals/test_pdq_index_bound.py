"""The multi-index probe path at the pigeonhole bound (issue 21, survivor 4).

At test sizes the cost model prefers a scan, so a probe plan one bit short of the bound
(``sum(r_i + 1) == threshold`` instead of ``threshold + 1``) would pass every brute-force
comparison. Here the scan is priced out so the probes alone answer, and neighbours are planted
at exactly the threshold with their flips spread over the substrings in *every* way that puts
``floor`` or ``ceil(threshold / m)`` flips in each table: whichever tables a short plan gives
the smaller radius, one of these neighbours escapes all of them.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from orbweaver.signals import pdq_index
from orbweaver.signals.pdq_index import _Segment


def _reference(bank: np.ndarray, query: np.ndarray, threshold: int) -> list[tuple[int, int]]:
    dist = (np.unpackbits(bank, axis=1) != np.unpackbits(query)).sum(axis=1)
    return sorted((int(r), int(dist[r])) for r in np.flatnonzero(dist <= threshold))


def _flip(h: np.ndarray, bits: list[int]) -> np.ndarray:
    out = np.unpackbits(h.copy())
    out[np.asarray(bits, dtype=np.int64)] ^= 1
    return np.packbits(out)


def _spread(substrings: list[np.ndarray], counts: tuple[int, ...]) -> list[int]:
    """`counts[i]` flipped bits taken from substring `i`."""
    return [int(b) for sub, c in zip(substrings, counts, strict=True) for b in sub[:c]]


def _neighbours(
    query: np.ndarray, substrings: list[np.ndarray], threshold: int
) -> list[np.ndarray]:
    """Every spread of `threshold` flips with floor/ceil(threshold/m) in each of the m tables."""
    m = len(substrings)
    low, extra = divmod(threshold, m)
    out = []
    for high in itertools.combinations(range(m), extra):
        counts = tuple(low + (i in high) for i in range(m))
        out.append(_flip(query, _spread(substrings, counts)))
    return out


@pytest.mark.parametrize(
    ("widths", "threshold"),
    [([16] * 16, 15), ([16] * 16, 31), ([16] * 16, 20), ([20] * 12, 31), ([12] * 21, 25)],
)
def test_the_probes_alone_find_every_neighbour_at_the_threshold(
    monkeypatch: pytest.MonkeyPatch, widths: list[int], threshold: int
) -> None:
    monkeypatch.setattr(pdq_index, "_COST_SCAN", 1e12)  # a scan never pays: probes only
    rng = np.random.default_rng(threshold)
    query = rng.integers(0, 256, 32, dtype=np.uint8)
    layout = _Segment(query[None, :], np.zeros(1, np.int64), widths)
    near = _neighbours(query, layout.substrings, threshold)
    beyond = _neighbours(query, layout.substrings, threshold + 1)[:50]
    noise = rng.integers(0, 256, (2000, 32), dtype=np.uint8)
    bank = np.concatenate([np.stack(near), np.stack(beyond), noise])
    segment = _Segment(bank, np.arange(len(bank), dtype=np.int64), widths)
    plan = segment.plan(threshold)
    assert not plan.scan and plan.max_candidates > len(bank)  # the probe path, no fallback
    _qi, ids, dist = segment.search(query[None, :], threshold)
    got = sorted(zip(ids.tolist(), dist.tolist(), strict=True))
    assert got == _reference(bank, query, threshold)
    assert {i for i, d in got if d == threshold} >= set(range(len(near)))
