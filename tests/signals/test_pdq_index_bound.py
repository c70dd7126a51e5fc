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
from orbweaver.signals.pdq_index import PDQHexIndex, PDQIndex, _Segment


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


# --- the plan, the layout and the index's plumbing, pinned (issue 21, mutation testing) --------


@pytest.mark.parametrize(
    ("widths", "threshold"),
    [([16] * 16, 0), ([16] * 16, 31), ([23] * 11, 31), ([20] * 12, 45), ([8] * 4, 35)],
)
def test_radii_meet_the_pigeonhole_bound_exactly_and_stay_within_each_table(
    widths: list[int], threshold: int
) -> None:
    radii, est = pdq_index._allocate_radii(widths, 100_000, threshold)
    assert sum(r + 1 for r in radii) == threshold + 1
    assert all(-1 <= r <= w for r, w in zip(radii, widths, strict=True))
    assert 0 < est < float("inf")


def test_more_budget_than_bits_prices_the_probes_out() -> None:
    """Four 8-bit tables can spend at most 4 * 9 = 36 on the bound: threshold 35 fits, 36 not."""
    radii, est = pdq_index._allocate_radii([8] * 4, 1000, 35)
    assert radii == [8, 8, 8, 8] and est < float("inf")
    assert pdq_index._allocate_radii([8] * 4, 1000, 36)[1] == float("inf")


def test_probe_masks_are_the_hamming_ball() -> None:
    for bits, radius in ((8, 0), (8, 2), (12, 3)):
        masks = pdq_index._masks(bits, radius).tolist()
        assert len(masks) == len(set(masks)) == pdq_index._ball(bits, radius)
        assert masks[0] == 0 and max(bin(m).count("1") for m in masks) == radius
        assert all(0 <= m < 1 << bits for m in masks)
    assert pdq_index._ball(16, -1) == 0 and pdq_index._ball(16, 1) == 17


def test_the_probe_plan_probes_every_table_within_its_radius(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pdq_index, "_COST_SCAN", 1000.0)
    bank = np.random.default_rng(1).integers(0, 256, (64, 32), dtype=np.uint8)
    segment = _Segment(bank, np.arange(64, dtype=np.int64), [16] * 16)
    plan = segment.plan(31)
    assert segment.plan(31) is plan  # cached
    radii, _ = pdq_index._allocate_radii([16] * 16, 64, 31)
    assert radii == [1] * 16
    assert len(plan.table) == len(plan.bucket_xor) == len(plan.base) == 16 * 17
    for t in range(16):
        mine = plan.table == t
        assert mine.sum() == 17
        assert set(plan.base[mine].tolist()) == {int(segment.table_base[t])}
        assert sorted(plan.bucket_xor[mine].tolist()) == [0] + [1 << b for b in range(16)]
    probes = 16 * 17
    scan_cost = 1000.0 * 64
    assert plan.max_candidates == int((scan_cost - probes * 12.0) / 25.0)
    assert segment.table_base.tolist() == [k * ((1 << 16) + 1) for k in range(16)]
    assert segment.offsets.size == 16 * ((1 << 16) + 1)  # the tables and nothing more
    assert segment.offsets.dtype == np.int32  # 4 bytes an offset below 2**31 postings


def test_a_neighbour_found_through_two_tables_is_returned_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pdq_index, "_COST_SCAN", 1e12)
    rng = np.random.default_rng(11)
    query = rng.integers(0, 256, 32, dtype=np.uint8)
    layout = _Segment(query[None, :], np.zeros(1, np.int64), [16] * 16)
    # two flips in 14 tables, none in the other two: distance 28, within radius 1 of two tables
    twice = _flip(query, _spread(layout.substrings, (2,) * 14 + (0, 0)))
    once = _flip(query, _spread(layout.substrings, (2,) * 15 + (1,)))  # distance 31, one table
    for bank in (twice[None, :], np.stack([twice, once])):
        segment = _Segment(bank, np.arange(len(bank), dtype=np.int64) + 5, [16] * 16)
        _qi, ids, dist = segment.search(query[None, :], 31)
        got = sorted(zip(ids.tolist(), dist.tolist(), strict=True))
        assert got == [(5, 28), (6, 31)][: len(bank)]


def test_layouts_fit_the_memory_cap() -> None:
    """Tables within MEMORY_PER_ENTRY bytes an entry (plus 4 MiB): under 1 GiB at 10M."""
    for n in (0, 1, 1000, 100_000, 1_000_000, 10_000_000):
        widths = pdq_index.choose_layout(n)
        w, m = widths[0], len(widths)
        assert widths == [w] * m and 8 <= w <= 24 and m * w <= 256
        assert m * (4 * n + 4 * ((1 << w) + 1)) <= 88 * max(n, 1) + (4 << 20)
    assert pdq_index.choose_layout(1) == [8] * 4
    assert pdq_index.choose_layout(100_000) == [16] * 16
    assert pdq_index.choose_layout(10_000_000) == [23] * 11


def test_segment_widths_are_checked() -> None:
    one = np.zeros((1, 32), np.uint8)
    for bad in ([25], [24] * 10 + [17]):
        with pytest.raises(ValueError, match="bad substring widths"):
            _Segment(one, np.zeros(1, np.int64), bad)
    assert _Segment(one, np.zeros(1, np.int64), [24] * 10 + [16]).widths == [24] * 10 + [16]


def test_the_delta_holds_up_to_its_capacity_then_levels_grow_by_eight() -> None:
    rng = np.random.default_rng(2)

    def hashes(n: int) -> np.ndarray:
        return rng.integers(0, 256, (n, 32), dtype=np.uint8)

    def shape(index: PDQIndex) -> tuple[list[int | None], int]:
        state = index._state
        return [None if s is None else len(s) for s in state.levels], len(state.delta_ids)

    index = PDQIndex(delta_capacity=10)
    index.add(hashes(10), np.arange(10))
    assert shape(index) == ([], 10)
    index.add(hashes(1), np.arange(1))
    assert shape(index) == ([None, 11], 0)
    index.add(hashes(69), np.arange(69))
    assert shape(index) == ([None, 80], 0)  # level 1 holds 10 * 8
    index.add(hashes(11), np.arange(11))
    assert shape(index) == ([None, None, 91], 0)  # overflow carried up
    big = PDQIndex(delta_capacity=10)
    big.add(hashes(81), np.arange(81))
    assert shape(big) == ([None, None, 81], 0)
    small = PDQIndex(delta_capacity=10)
    small.add(hashes(11), np.arange(11))
    small.add(hashes(81), np.arange(81))  # straight to level 2: level 1 is not rebuilt
    assert shape(small) == ([None, 11, 81], 0)
    assert len(big) == 81 and len(index) == 91


def test_memory_is_the_tables_the_postings_and_the_ids() -> None:
    rng = np.random.default_rng(3)
    index = PDQIndex(delta_capacity=10)
    index.add(rng.integers(0, 256, (5, 32), dtype=np.uint8), np.arange(5))
    assert index.memory_bytes() == 5 * 8
    index.add(rng.integers(0, 256, (20, 32), dtype=np.uint8), np.arange(20))
    index.add(rng.integers(0, 256, (3, 32), dtype=np.uint8), np.arange(3))
    segment = index._state.levels[1]
    assert segment is not None
    held = segment.offsets.nbytes + segment.postings.nbytes + segment.ids.nbytes
    assert segment.memory_bytes() == held
    assert index.memory_bytes() == held + 3 * 8


def test_search_flat_and_the_grouped_order() -> None:
    empty = PDQIndex().search_flat(np.zeros((2, 32), np.uint8), 31)
    assert [a.tolist() for a in empty] == [[], [], []]
    assert all(a.dtype == np.int64 for a in empty)
    bank = np.zeros((4, 32), np.uint8)
    bank[1, 0], bank[2, 1], bank[3, 2] = 1, 3, 0xFF
    index = PDQIndex(delta_capacity=2)
    index.add(bank[:3], np.array([30, 20, 10]))  # a segment
    index.add(bank[3:], np.array([40]))  # the delta
    queries = np.stack([bank[0], bank[3]])
    qi, ids, dist = index.search_flat(queries, 8)
    flat = sorted(zip(qi.tolist(), ids.tolist(), dist.tolist(), strict=True))
    assert flat == [(0, 10, 2), (0, 20, 1), (0, 30, 0), (0, 40, 8), (1, 30, 8), (1, 40, 0)]
    assert all(a.dtype == np.int64 for a in (qi, ids, dist))
    assert index.search_batch(queries, 8) == [
        [(30, 0), (20, 1), (10, 2), (40, 8)],
        [(40, 0), (30, 8)],
    ]
    assert index.search_batch(queries, 0) == [[(30, 0)], [(40, 0)]]
    assert PDQIndex().search_batch(queries, 8) == [[], []]


def test_queries_and_hashes_of_the_wrong_shape_are_refused() -> None:
    index = PDQIndex()
    for bad in (
        np.zeros((2, 32), np.int16),
        np.zeros((2, 2, 32), np.uint8),
        np.zeros(32, np.uint8),
    ):
        with pytest.raises(ValueError, match="hashes must be"):
            index.add(bad, np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="queries must be"):
        index.search_batch(np.zeros((2, 31), np.uint8), 3)
    with pytest.raises(ValueError, match="a PDQ query is 32 bytes, got 33"):
        index.search(bytes(33), 3)
    with pytest.raises(ValueError, match="threshold must be >= 0"):
        index.search(bytes(32), -1)
    index.add(np.zeros((1, 32), np.uint8), np.array([7]))
    for query in (bytes(32), bytearray(32), memoryview(bytes(32)), np.zeros(32, np.uint8)):
        assert index.search(query, 0) == [(7, 0)]


def test_hex_errors_name_the_first_bad_entry() -> None:
    good = "0" * 64
    with pytest.raises(ValueError, match="PDQ hash #1 is not 64 hex characters"):
        pdq_index.pdq_hex_to_bytes([good, "0" * 63, "0" * 65])
    with pytest.raises(ValueError, match="PDQ hash #1 has non-hex characters"):
        pdq_index.pdq_hex_to_bytes([good, "g" * 64, "h" * 64])
    with pytest.raises(ValueError, match="PDQ hash #2 has non-hex characters"):
        pdq_index.pdq_hex_to_bytes([good, good, "é" * 64, "ü" * 64])
    upper = pdq_index.pdq_hex_to_bytes(["ABCDEF" + "0" * 58, "abcdef" + "F" * 58])
    assert upper.tolist()[0][:3] == [0xAB, 0xCD, 0xEF]
    assert upper.tolist()[1] == [0xAB, 0xCD, 0xEF] + [0xFF] * 29


def test_query_bytes_takes_the_fast_path_or_names_the_bad_hash() -> None:
    hexes = ["0f" * 32, "A1" * 32]
    assert pdq_index.query_bytes(hexes).tolist() == [[0x0F] * 32, [0xA1] * 32]
    with pytest.raises(ValueError, match="PDQ hash #1 has non-hex characters"):
        pdq_index.query_bytes(["00" * 32, "zz" * 32])
    with pytest.raises(ValueError, match="PDQ hash #0 is not 64 hex characters"):
        pdq_index.query_bytes(["00" * 31])
    # spaces: bytes.fromhex reads them, they are no PDQ hash
    with pytest.raises(ValueError, match="PDQ hash #0 has non-hex characters"):
        pdq_index.query_bytes(["00 " * 21 + "0"])


def test_the_hex_index_and_its_bulk_loader() -> None:
    hexes = [f"{k:02x}" * 32 for k in range(6)]
    index = PDQHexIndex()
    assert len(index) == 0 and index.search([], 31) == []
    loader = index.loader(10)
    loader.extend(hexes[:2], [100, 101])
    loader.extend(hexes[2:5], np.array([102, 103, 104]))
    assert loader.count == 5 and len(index) == 0
    loader.finish()
    assert loader.count == 0 and len(index) == 5
    # handed over as they are, not copied (one array, not two, for a 10M load)
    assert np.shares_memory(index.index._state.delta_hashes, loader.hashes)
    loader.finish()  # nothing pending: no second add
    assert len(index) == 5
    index.add(hexes[5:], [105])
    assert len(index) == 6
    got = index.search([hexes[3], hexes[5]], 0)
    assert got == [[(103, 0)], [(105, 0)]]
    shared = PDQIndex()
    assert PDQHexIndex(shared).index is shared


def test_the_cheapest_table_is_probed_first() -> None:
    """An 8-bit table at 100k entries has ~390 entries a bucket, a 24-bit one almost none: the
    radii go to the 24-bit table until its ball costs more than the 8-bit table's buckets."""
    allocate = pdq_index._allocate_radii
    assert [allocate([8, 24], 100_000, t)[0] for t in range(4)] == [
        [-1, 0],
        [-1, 1],
        [-1, 2],
        [0, 2],
    ]
    assert allocate([24, 8], 100_000, 0)[0] == [0, -1]


def test_a_table_key_is_its_substring_bits_most_significant_first() -> None:
    rng = np.random.default_rng(9)
    hashes = rng.integers(0, 256, (5, 32), dtype=np.uint8)
    segment = _Segment(hashes, np.arange(5, dtype=np.int64), [12] * 21)
    bits = np.unpackbits(hashes, axis=1)
    expected = [
        [int("".join(str(b) for b in row[sub]), 2) for sub in segment.substrings] for row in bits
    ]
    assert segment.keys(hashes).tolist() == expected


def test_query_bytes_refuses_what_is_no_string() -> None:
    for bad in ([b"00" * 32], ["00" * 32, b"00" * 32]):
        with pytest.raises(ValueError, match="is not 64 hex characters"):
            pdq_index.query_bytes(bad)


def test_more_queries_than_entries_each_keep_their_hits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retroactive matching sends batches far larger than a segment: the dedup of hits found
    through several tables must tell query 3's row 0 from query 0's row 1."""
    monkeypatch.setattr(pdq_index, "_COST_SCAN", 1e12)
    bank = np.random.default_rng(12).integers(0, 256, (3, 32), dtype=np.uint8)
    segment = _Segment(bank, np.array([10, 11, 12], dtype=np.int64), [16] * 16)
    queries = np.stack([bank[1], bank[2], bank[2], bank[0], bank[1]])
    qi, ids, dist = segment.search(queries, 31)
    got = sorted(zip(qi.tolist(), ids.tolist(), dist.tolist(), strict=True))
    assert got == [(0, 11, 0), (1, 12, 0), (2, 12, 0), (3, 10, 0), (4, 11, 0)]
