"""The PDQ index is exact: every entry within the threshold, none beyond, for any threshold.

Each test compares against a brute-force reference, on uniform random hashes and on hashes of
synthetic pictures (which crowd buckets), with neighbours planted at distances 0..31, including
the pigeonhole's worst case where the flipped bits are spread evenly over the index substrings.
"""

from __future__ import annotations

import threading

import numpy as np
import pdqhash
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageFilter

from orbweaver.signals.pdq_index import PDQIndex, _Segment, choose_layout, pdq_hex_to_bytes

Hits = list[tuple[int, int]]


def reference(bank: np.ndarray, ids: np.ndarray, query: np.ndarray, threshold: int) -> Hits:
    """Brute force on unpacked bits: independent of the index's uint64 popcount path."""
    dist = (np.unpackbits(bank, axis=1) != np.unpackbits(query)).sum(axis=1)
    rows = np.flatnonzero(dist <= threshold)
    return sorted(((int(ids[r]), int(dist[r])) for r in rows), key=lambda p: (p[1], p[0]))


def flip(h: np.ndarray, bits: np.ndarray | list[int]) -> np.ndarray:
    """Flip bit positions given in ``np.unpackbits`` order."""
    out = np.unpackbits(h.copy())
    out[np.asarray(bits, dtype=np.int64)] ^= 1
    return np.packbits(out)


def spread_evenly(substrings: list[np.ndarray], d: int) -> list[int]:
    """``d`` bits taken round-robin over the substrings, bits in no substring first.

    This puts ``floor`` or ``ceil(d / m)`` flips in every table: exactly the edge the refined
    pigeonhole bound has to cover.
    """
    used = np.concatenate(substrings)
    spare = [int(b) for b in np.setdiff1d(np.arange(256), used)]
    bits = spare[:d]
    k = 0
    while len(bits) < d:
        sub = substrings[k % len(substrings)]
        bits.append(int(sub[k // len(substrings)]))
        k += 1
    return bits


def synthetic_images(rng: np.random.Generator, count: int) -> list[Image.Image]:
    """Benign synthetic pictures: gradients, shapes, text, and near-duplicates of them."""
    images = []
    for i in range(count):
        size = 96
        kind = i % 4
        if kind == 0:
            a = np.linspace(0, 255, size)
            angle = rng.uniform(0, np.pi)
            grad = np.cos(angle) * a[None, :] + np.sin(angle) * a[:, None]
            arr = np.clip(grad * rng.uniform(0.3, 1.0), 0, 255).astype(np.uint8)
            img = Image.fromarray(np.stack([arr, arr[::-1], arr.T], axis=2))
        else:
            bg = tuple(int(c) for c in rng.integers(0, 256, 3))
            img = Image.new("RGB", (size, size), bg)
            draw = ImageDraw.Draw(img)
            for _ in range(int(rng.integers(1, 4))):
                x0, y0 = (int(v) for v in rng.integers(0, size - 20, 2))
                box = (x0, y0, x0 + int(rng.integers(10, 60)), y0 + int(rng.integers(10, 60)))
                fill = tuple(int(c) for c in rng.integers(0, 256, 3))
                if kind == 1:
                    draw.rectangle(box, fill=fill)
                elif kind == 2:
                    draw.ellipse(box, fill=fill)
                else:
                    draw.text((x0, y0), f"orb {i} weaver", fill=fill)
        images.append(img)
        if i % 3 == 0:  # a near-duplicate: blurred and slightly brightened
            near = img.filter(ImageFilter.GaussianBlur(1)).point(lambda v: min(255, v + 8))
            images.append(near)
    return images


def pdq_bytes(img: Image.Image) -> np.ndarray:
    bits, _quality = pdqhash.compute(np.asarray(img.convert("RGB")))
    return np.packbits(bits.astype(np.uint8))


@pytest.fixture(scope="module")
def structured() -> np.ndarray:
    rng = np.random.default_rng(7)
    return np.stack([pdq_bytes(img) for img in synthetic_images(rng, 300)])


def planted_bank(
    rng: np.random.Generator, base: np.ndarray, substrings: list[np.ndarray] | None
) -> tuple[np.ndarray, np.ndarray]:
    """Base hashes plus, for each distance 0..31, a random-flip and an even-spread neighbour."""
    planted = []
    for d in range(32):
        src = base[d % len(base)]
        planted.append(flip(src, rng.choice(256, d, replace=False)))
        if substrings is not None:
            planted.append(flip(src, spread_evenly(substrings, d)))
    bank = np.concatenate([base, np.stack(planted)])
    return bank, rng.permutation(len(bank)).astype(np.int64) * 7 + 3


def check_all(index: PDQIndex, bank: np.ndarray, ids: np.ndarray, queries: np.ndarray) -> None:
    for t in (0, 1, 5, 15, 31, 32, 45, 70):
        batch = index.search_batch(queries, t)
        for q, got in zip(queries, batch, strict=True):
            assert got == reference(bank, ids, q, t)
            assert index.search(q.tobytes(), t) == got


@pytest.mark.parametrize("widths", [None, [16] * 16, [20] * 12, [12] * 21, [8] * 4])
def test_segment_exact_on_uniform_hashes_with_planted_neighbours(
    widths: list[int] | None,
) -> None:
    rng = np.random.default_rng(1)
    base = rng.integers(0, 256, (20_000, 32), dtype=np.uint8)
    layout = _Segment(base[:1], np.zeros(1, np.int64), widths)
    bank, ids = planted_bank(rng, base, layout.substrings)
    segment = _Segment(bank, ids, widths)
    queries = base[:32]
    for t in (0, 12, 31, 64):
        qi, got_ids, dist = segment.search(queries, t)
        for k, q in enumerate(queries):
            mine = sorted(zip(got_ids[qi == k].tolist(), dist[qi == k].tolist(), strict=True))
            assert mine == sorted(reference(bank, ids, q, t))


def test_index_exact_on_structured_hashes(structured: np.ndarray) -> None:
    rng = np.random.default_rng(2)
    index = PDQIndex(delta_capacity=64)
    probe = _Segment(structured[:1], np.zeros(1, np.int64), choose_layout(len(structured)))
    bank, ids = planted_bank(rng, structured, probe.substrings)
    index.add(bank, ids)
    queries = np.concatenate([structured[:24], rng.integers(0, 256, (4, 32), dtype=np.uint8)])
    check_all(index, bank, ids, queries)


def test_crowded_buckets_stay_exact() -> None:
    """Thousands of copies of one hash and its close variants fall back to a scan, still exact."""
    rng = np.random.default_rng(3)
    one = rng.integers(0, 256, 32, dtype=np.uint8)
    crowd = np.stack([flip(one, rng.choice(256, int(rng.integers(0, 6)), replace=False))] * 1)
    crowd = np.repeat(crowd, 3000, axis=0)
    others = rng.integers(0, 256, (3000, 32), dtype=np.uint8)
    bank = np.concatenate([crowd, others])
    ids = np.arange(len(bank), dtype=np.int64)
    index = PDQIndex(delta_capacity=128)
    index.add(bank, ids)
    queries = np.stack([one, flip(one, list(range(0, 256, 9))), others[0]])
    check_all(index, bank, ids, queries)


def test_incremental_adds_are_found_across_merges() -> None:
    rng = np.random.default_rng(4)
    index = PDQIndex(delta_capacity=50)
    banks, idss = [], []
    for step in range(40):
        n = int(rng.choice([1, 7, 30, 120, 700]))
        h = rng.integers(0, 256, (n, 32), dtype=np.uint8)
        ids = np.arange(n, dtype=np.int64) + 10_000 * step
        index.add(h, ids)
        banks.append(h)
        idss.append(ids)
        bank, all_ids = np.concatenate(banks), np.concatenate(idss)
        assert len(index) == len(bank)
        sample = bank[rng.choice(len(bank), 6)]
        queries = np.stack([flip(q, rng.choice(256, 9, replace=False)) for q in sample])
        for q, got in zip(queries, index.search_batch(queries, 31), strict=True):
            assert got == reference(bank, all_ids, q, 31)
    assert sum(s is not None for s in index._state.levels) >= 2  # merges really happened


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 400),
    delta=st.integers(1, 64),
    threshold=st.integers(0, 90),
    flips=st.lists(st.integers(0, 60), min_size=1, max_size=8),
)
def test_property_matches_brute_force(
    seed: int, n: int, delta: int, threshold: int, flips: list[int]
) -> None:
    rng = np.random.default_rng(seed)
    bank = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    ids = rng.integers(-(2**40), 2**40, n).astype(np.int64)
    index = PDQIndex(delta_capacity=delta)
    for chunk in np.array_split(np.arange(n), 3):
        index.add(bank[chunk], ids[chunk])
    src = bank[0] if n else np.zeros(32, np.uint8)
    queries = np.stack([flip(src, rng.choice(256, f, replace=False)) for f in flips])
    got = index.search_batch(queries, threshold)
    for q, hits in zip(queries, got, strict=True):
        assert hits == reference(bank, ids, q, threshold)


@pytest.mark.parametrize("n", [20, 5_000])  # into the delta, and a segment at once
def test_add_copies_unless_told_it_may_keep_the_arrays(n: int) -> None:
    rng = np.random.default_rng(7)
    bank = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    ids = np.arange(n, dtype=np.int64)
    copied, kept = PDQIndex(delta_capacity=100), PDQIndex(delta_capacity=100)
    copied.add(bank, ids)
    kept.add(bank.copy(), ids.copy(), copy=False)
    query = bank[3].copy()
    assert copied.search(query.tobytes(), 0) == kept.search(query.tobytes(), 0) == [(3, 0)]
    bank[3] ^= 0xFF  # the caller changes its array: the copying index must not see it
    ids[3] = -1
    assert copied.search(query.tobytes(), 0) == [(3, 0)]
    # copy=False merges with what is pending like any add
    kept.add(bank[:1].copy(), np.array([99], dtype=np.int64), copy=False)
    kept.add(bank[:1], np.array([98], dtype=np.int64), copy=False)
    assert kept.search(bank[0].tobytes(), 0) == [(0, 0), (98, 0), (99, 0)]


def test_duplicate_hashes_each_returned_and_sorted() -> None:
    h = np.zeros((3, 32), np.uint8)
    h[2, 0] = 1
    index = PDQIndex()
    index.add(h, np.array([9, 4, 1]))
    assert index.search(bytes(32), 31) == [(4, 0), (9, 0), (1, 1)]


def test_empty_index_and_empty_batches() -> None:
    index = PDQIndex()
    assert len(index) == 0
    assert index.search(bytes(32), 31) == []
    assert index.search_batch(np.zeros((0, 32), np.uint8), 31) == []
    index.add(np.zeros((0, 32), np.uint8), np.zeros(0, np.int64))
    assert len(index) == 0
    assert index.memory_bytes() >= 0


def test_bad_arguments_rejected() -> None:
    index = PDQIndex()
    with pytest.raises(ValueError):
        index.add(np.zeros((2, 32), np.uint8), np.zeros(3, np.int64))
    with pytest.raises(ValueError):
        index.add(np.zeros((2, 31), np.uint8), np.zeros(2, np.int64))
    with pytest.raises(ValueError):
        index.search(bytes(31), 3)
    with pytest.raises(ValueError):
        index.search(bytes(32), -1)


def test_hex_decoding_and_rejection() -> None:
    good = "f" * 63 + "0"
    out = pdq_hex_to_bytes([good, "0123456789abcdefABCDEF" + "0" * 42])
    assert out.shape == (2, 32) and out.dtype == np.uint8
    assert out[0].tobytes() == bytes.fromhex(good)
    assert out[1].tobytes() == bytes.fromhex("0123456789abcdefABCDEF" + "0" * 42)
    assert pdq_hex_to_bytes([]).shape == (0, 32)
    for bad in ["0" * 63, "0" * 65, "g" + "0" * 63, "é" + "0" * 63, "0 " * 32, None, b"0" * 64]:
        with pytest.raises(ValueError):
            pdq_hex_to_bytes([good, bad])  # type: ignore[list-item]


def test_searches_run_while_adds_happen() -> None:
    rng = np.random.default_rng(5)
    first = rng.integers(0, 256, (2000, 32), dtype=np.uint8)
    index = PDQIndex(delta_capacity=100)
    index.add(first, np.arange(2000))
    errors: list[str] = []

    def reader() -> None:
        for k in range(150):
            q = first[k % 2000]
            if (k % 2000, 0) not in index.search(q, 10):
                errors.append(f"lost entry {k}")

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for th in threads:
        th.start()
    for step in range(30):
        index.add(rng.integers(0, 256, (97, 32), dtype=np.uint8), np.arange(97) + 10_000 * step)
    for th in threads:
        th.join()
    assert not errors
    assert len(index) == 2000 + 30 * 97
