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


def run(entries: int) -> dict[str, object]:
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
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=10_000_000)
    args = parser.parse_args()
    print(json.dumps(run(args.entries), indent=2))


if __name__ == "__main__":
    main()
