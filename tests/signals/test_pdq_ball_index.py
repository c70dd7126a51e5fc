"""The ball index (retroactive matching's many queries against few entries) is exact: checked
against brute force at thresholds 0..31, with near copies planted at every distance up to the
threshold, including the pigeonhole's worst case (flips spread evenly over its 16 substrings);
and the multi-index segments' lookup-table keys and counting-sort build against a reference."""

from __future__ import annotations

import numpy as np
import pytest

from orbweaver.signals import pdq_index
from orbweaver.signals.pdq_index import BallIndex, PDQIndex, _permutation, _Segment, ball_radii


def brute(bank: np.ndarray, ids: np.ndarray, queries: np.ndarray, threshold: int) -> set:
    """Every (query row, id, distance) within the threshold, on unpacked bits."""
    qb = np.unpackbits(queries, axis=1).astype(np.int16)
    bb = np.unpackbits(bank, axis=1).astype(np.int16)
    dist = qb.sum(1)[:, None] + bb.sum(1)[None, :] - 2 * (qb @ bb.T)
    q, r = np.nonzero(dist <= threshold)
    return {(int(a), int(ids[b]), int(dist[a, b])) for a, b in zip(q, r, strict=True)}


def flip(h: np.ndarray, bits: list[int]) -> np.ndarray:
    out = np.unpackbits(h.copy())
    out[np.asarray(bits, dtype=np.int64)] ^= 1
    return np.packbits(out)


def worst_case(d: int) -> list[int]:
    """``d`` bits round-robin over the ball index's 16 substrings of the permuted hash."""
    tables = [_permutation()[16 * t : 16 * t + 16] for t in range(16)]
    return [int(tables[i % 16][i // 16]) for i in range(d)]


def workload(rng: np.random.Generator, threshold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    bank = rng.integers(0, 256, size=(1500, 32), dtype=np.uint8)
    bank[7] = bank[3]  # the same hash under two ids: both reported
    ids = rng.permutation(10_000)[: len(bank)].astype(np.int64)
    queries = [rng.integers(0, 256, size=(200, 32), dtype=np.uint8)]
    for d in range(threshold + 3):
        row = int(rng.integers(len(bank)))
        queries.append(flip(bank[row], rng.choice(256, size=d, replace=False).tolist())[None])
        queries.append(flip(bank[row], worst_case(d))[None])
    return bank, ids, np.concatenate(queries)


@pytest.mark.parametrize("threshold", [0, 1, 7, 15, 16, 22, 30, 31])
def test_ball_index_finds_exactly_the_pairs_within_the_threshold(threshold: int) -> None:
    rng = np.random.default_rng(threshold)
    bank, ids, queries = workload(rng, threshold)
    qi, got_ids, dist = BallIndex(bank, ids, threshold).search(queries)
    got = list(zip(qi.tolist(), got_ids.tolist(), dist.tolist(), strict=True))
    assert len(got) == len(set(got))  # an entry found through several tables is kept once
    want = brute(bank, ids, queries, threshold)
    assert set(got) == want
    assert sum(1 for q, _, _ in want if q >= 200) >= threshold + 1  # the planted ones are there


def test_ball_radii_satisfy_the_pigeonhole_bound_and_stop_at_31() -> None:
    for threshold in range(32):
        radius = ball_radii(threshold)
        assert radius is not None
        assert int((radius + 1).sum()) == threshold + 1
    assert ball_radii(32) is None
    with pytest.raises(ValueError):
        BallIndex(np.zeros((1, 32), dtype=np.uint8), np.zeros(1, dtype=np.int64), 32)


def test_search_flat_uses_the_ball_index_for_many_queries_and_rebuilds_after_an_add(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pdq_index, "BALL_MIN_QUERIES", 16)
    rng = np.random.default_rng(5)
    bank, ids, queries = workload(rng, 31)
    index = PDQIndex(delta_capacity=256)
    index.add(bank[:1000], ids[:1000])
    index.add(bank[1000:], ids[1000:])  # a segment and a delta
    qi, got_ids, dist = index.search_flat(queries, 31)
    assert index._ball is not None
    assert set(zip(qi.tolist(), got_ids.tolist(), dist.tolist(), strict=True)) == brute(
        bank, ids, queries, 31
    )
    extra = flip(queries[-1], [0, 1])[None]
    index.add(extra, np.array([99_999]))
    qi, got_ids, _ = index.search_flat(queries, 31)
    assert (len(queries) - 1, 99_999) in set(zip(qi.tolist(), got_ids.tolist(), strict=True))
    qi32, ids32, _ = index.search_flat(queries, 40)  # beyond the ball index: probed, exact
    assert set(zip(qi32.tolist(), ids32.tolist(), strict=True)) >= set(
        zip(qi.tolist(), got_ids.tolist(), strict=True)
    )


def test_segment_keys_and_tables_equal_a_reference_from_unpacked_bits() -> None:
    """The build's lookup-table keys and counting sort (one table at a time) give the tables a
    plain reference gives: keys from the unpacked bits, rows sorted by (key, row)."""
    rng = np.random.default_rng(9)
    hashes = rng.integers(0, 256, size=(5000, 32), dtype=np.uint8)
    segment = _Segment(hashes, np.arange(len(hashes)), widths=[13] * 19)
    bits = np.unpackbits(hashes, axis=1).astype(np.int64)
    n = len(hashes)
    for t, substring in enumerate(segment.substrings):
        w = len(substring)
        keys = bits[:, substring] @ (1 << np.arange(w - 1, -1, -1))
        assert (segment.keys(hashes)[:, t] == keys).all()
        order = np.lexsort((np.arange(n), keys))
        assert (segment.postings[t * n : (t + 1) * n] == order).all()
        base = int(segment.table_base[t])
        counts = np.bincount(keys, minlength=1 << w)
        offsets = segment.offsets[base : base + (1 << w) + 1]
        assert offsets[0] == t * n
        assert (offsets[1:] == np.cumsum(counts) + t * n).all()
