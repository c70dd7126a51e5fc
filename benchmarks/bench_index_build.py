"""The PDQ index's build on its own: time, memory high-water mark, single lookups (issue 17).

    .venv/bin/python -m benchmarks.bench_index_build [--entries 10000000]

`--entries` uniform random hashes become one `PDQIndex` segment (one `add`, no copy, as a bank
load does); reported: build wall and CPU seconds, resident memory growth over the build and its
high-water mark's growth (the build's temporaries: the kernel's peak is reset first, Linux only),
the index's own bytes, and 400 single lookups at distance 31 (half 1 bit from an entry). To
compare with an older build, run the same file with that checkout's `src` first on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

import orbweaver.signals.pdq_index as pdq_index


def _status_mib(key: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    return 0.0


def run(entries: int, recall: int = 0) -> dict[str, object]:
    rng = np.random.default_rng(1)
    hashes = rng.integers(0, 256, size=(entries, 32), dtype=np.uint8)
    ids = np.arange(entries, dtype=np.int64)
    warm = pdq_index.PDQIndex()  # the kernels compile on first use: not timed
    warm.add(hashes[:20_000].copy(), ids[:20_000].copy())
    warm.search(hashes[0], 31)
    del warm
    base = _status_mib("VmRSS:")
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # resets VmHWM to the current RSS
    index = pdq_index.PDQIndex()
    t0, c0 = time.perf_counter(), time.process_time()
    index.add(hashes, ids, copy=False)
    out: dict[str, object] = {
        "entries": entries,
        "build_s": round(time.perf_counter() - t0, 2),
        "build_cpu_s": round(time.process_time() - c0, 2),
        "rss_growth_mib": round(_status_mib("VmRSS:") - base),
        "peak_growth_mib": round(_status_mib("VmHWM:") - base),
        "index_mib": round(index.memory_bytes() / 2**20),
        "load": round(os.getloadavg()[0], 2),
    }
    near = hashes[:200].copy()
    near[:, 0] ^= 1  # one bit away
    queries = np.concatenate([near, rng.integers(0, 256, size=(200, 32), dtype=np.uint8)])
    t0, c0 = time.perf_counter(), time.process_time()
    found = sum(1 for q in queries if index.search(q, 31))
    out["lookups_per_s"] = round(len(queries) / (time.perf_counter() - t0))
    out["lookups_per_cpu_s"] = round(len(queries) / (time.process_time() - c0))
    out["planted_found"] = found
    if recall:
        out.update(_recall_and_refresh(index, hashes, ids, rng, recall))
    return out


def _recall_and_refresh(
    index: pdq_index.PDQIndex, hashes: np.ndarray, ids: np.ndarray, rng: np.random.Generator, n: int
) -> dict[str, object]:
    """Recall against a full popcount scan on n queries 1..31 bits from an entry, then a refresh.

    The index is exact by construction (the pigeonhole bound); this checks it at the size where
    a bug in a table's layout would show, against the one method that cannot miss.
    """
    picks = rng.choice(len(hashes), size=n, replace=False)
    queries = hashes[picks].copy()
    for row, bits in zip(queries, rng.integers(1, 32, size=n), strict=True):
        for bit in rng.choice(256, size=int(bits), replace=False):
            row[bit // 8] ^= np.uint8(1 << (bit % 8))
    table = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(1).astype(np.uint8)
    agree = 0
    for query in queries:
        scan: set[int] = set()
        for start in range(0, len(hashes), 1 << 22):  # a chunk at a time: bounded memory
            chunk = hashes[start : start + (1 << 22)]
            distances = table[chunk ^ query].sum(axis=1, dtype=np.uint16)
            scan.update((ids[start:][: len(chunk)][distances <= 31]).tolist())
        agree += {int(i) for i, _ in index.search(query, 31)} == scan
    fresh = rng.integers(0, 256, size=(100_000, 32), dtype=np.uint8)
    t0 = time.perf_counter()
    index.add(fresh, np.arange(len(hashes), len(hashes) + 100_000, dtype=np.int64))
    refresh_s = time.perf_counter() - t0
    found = sum(1 for q in fresh[:100] if index.search(q, 0))
    return {
        "recall_queries": n,
        "recall_agree_with_scan": agree,
        "refresh_100k_s": round(refresh_s, 2),
        "refresh_found": found,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=10_000_000)
    parser.add_argument(
        "--recall", type=int, default=0, help="queries checked against a full scan (0: none)"
    )
    args = parser.parse_args()
    print(json.dumps(run(args.entries, args.recall), indent=2))


if __name__ == "__main__":
    main()
