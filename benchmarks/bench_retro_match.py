"""Retroactive matching (issue 17): stored compact signals against newly arrived bank entries.

    .venv/bin/python -m benchmarks.bench_retro_match [--records 10000000] [--entries 100000]
        [--planted 1000] [--brute 2048] [--old-records 1000000] [--json OUT.json]

A SQLite store gets `--entries` new PDQ entries (random hashes) in one bank; `--records` compact
records (issue 22's 64-byte layout: hash prefixes and a PDQ; random, with `--planted` of them
near copies of entries at 1..31 bits, the PDQ threshold) are generated in memory in the layout
`media_signal_block` holds. Timed on one core (the index kernels are single-threaded; BLAS is
limited to one thread):

- `index_s`: `Matcher(after_entry=...)` + `refresh()`, the index of the new entries only;
- `ball_s`: the first search, which builds the entries' ball index (`PDQIndex.search_flat`
  keeps it for the next batches; a first call of the numba kernels is made before timing);
- `scan_s`: `compact_block_leads` over every record in batches of 2^20 (what
  `match_new_entries` does with the stored blocks; reading the blocks from the store is not
  timed: at 64 bytes a record it is a sequential read of 640 MB for 10M records), the ball
  build included;
- `scan_cpu_s`: the same in this process's CPU time (a shared machine's wall clock is not a
  core's);
- recall: planted records found / planted;
- the old kernel, same run: the first `--old-records` records through the probing multi-index
  (the ball index switched off), extrapolated to all records (`old_scan_cpu_s_extrapolated`),
  and `ratio_cpu` / `ratio_wall` of the old kernel's cost over the new one's;
- baseline, same run: a brute-force NumPy popcount scan of `--brute` records against every
  entry, extrapolated to all records (`brute_s_extrapolated`), and `speedup` over it.

Random hashes are the index's easy case (real PDQ hashes cluster; see BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from orbweaver.banks import create_bank
from orbweaver.banks.matcher import Matcher
from orbweaver.banks.retro import compact_block_leads
from orbweaver.clock import SettableClock
from orbweaver.signals import pdq_index
from orbweaver.signals.blas import limit_blas_threads
from orbweaver.store import CompactSignals, open_store
from orbweaver.store.models import BankEntry

KEY = CompactSignals.KEY_BYTES
RECORD = CompactSignals.RECORD_BYTES
BATCH = 1 << 20


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _flip(hashes: np.ndarray, bits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each row with `bits[i]` distinct bits flipped."""
    out = hashes.copy()
    for i, n in enumerate(bits.tolist()):
        for b in rng.choice(256, size=n, replace=False).tolist():
            out[i, b // 8] ^= 1 << (b % 8)
    return out


def _popcount_distances(queries: np.ndarray, entries: np.ndarray) -> np.ndarray:
    """(queries, entries) Hamming distances, 64-bit words and a byte popcount table."""
    table = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
    q = queries.view(np.uint64)
    e = entries.view(np.uint64)
    dist = np.zeros((len(q), len(e)), dtype=np.uint16)
    for w in range(4):
        x = np.bitwise_xor.outer(q[:, w], e[:, w])
        dist += table[x.view(np.uint8)].reshape(len(q), len(e), 8).sum(axis=2, dtype=np.uint16)
    return dist


def _blocks(
    records: int, planted_at: np.ndarray, planted_pdq: np.ndarray, seed: int
) -> Iterator[np.ndarray]:
    """The records in batches: random, with the planted near copies (prefix 0xEE..)."""
    rng = np.random.default_rng(seed)
    for start in range(0, records, BATCH):
        n = min(BATCH, records - start)
        block = rng.integers(0, 256, size=(n, RECORD), dtype=np.uint8)
        here = planted_at[(planted_at >= start) & (planted_at < start + n)]
        marks = np.searchsorted(planted_at, here)
        block[here - start, RECORD - 32 :] = planted_pdq[marks]
        block[here - start, :KEY] = 0xEE  # a prefix random records never carry
        yield block


def _scan(matcher: Matcher, blocks: Iterator[np.ndarray]) -> tuple[float, float, int, int]:
    """Wall and CPU seconds of `compact_block_leads` over the blocks; leads; planted found."""
    scan = scan_cpu = 0.0
    leads = found = 0
    for block in blocks:
        t0, c0 = time.perf_counter(), time.process_time()
        got = compact_block_leads(block, matcher, {})
        scan += time.perf_counter() - t0
        scan_cpu += time.process_time() - c0
        leads += len(got)
        found += sum(1 for prefix, _ in got if prefix == "ee" * KEY)
    return scan, scan_cpu, leads, found


def run(
    records: int, entries: int, planted: int, brute: int, old_records: int
) -> dict[str, object]:
    limit_blas_threads(1)
    rng = np.random.default_rng(17)
    bank = rng.integers(0, 256, size=(entries, 32), dtype=np.uint8)
    out: dict[str, object] = {"records": records, "entries": entries, "load_start": _load()}
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        clock = SettableClock()
        bank_id = create_bank(store, clock, "incoming").id
        with store.session() as session:
            for start in range(0, entries, 50_000):
                session.execute(
                    sa.insert(BankEntry),
                    [
                        {
                            "bank_id": bank_id,
                            "signal_type": "pdq",
                            "signal": bank[i].tobytes().hex(),
                            "category": "csam_prepubescent",
                            "source": "bench",
                            "added_at": clock.now(),
                        }
                        for i in range(start, min(entries, start + 50_000))
                    ],
                )
        t0 = time.perf_counter()
        matcher = Matcher(store, after_entry=0)
        matcher.refresh()
        out["index_s"] = round(time.perf_counter() - t0, 3)
        out["load_after_index"] = _load()

        chosen = rng.choice(entries, size=planted, replace=False)
        planted_pdq = _flip(bank[chosen], rng.integers(1, 32, size=planted), rng)
        planted_at = np.sort(rng.choice(records, size=planted, replace=False))
        warm = pdq_index.BallIndex(bank[:64], np.arange(64), 31)  # compile (cached) kernels
        warm.search(bank[:64])
        first = next(_blocks(records, planted_at, planted_pdq, 18))[: pdq_index.BALL_MIN_QUERIES]
        t0, c0 = time.perf_counter(), time.process_time()
        compact_block_leads(first, matcher, {})  # builds the ball index, kept for the scan
        ball, ball_cpu = time.perf_counter() - t0, time.process_time() - c0
        out["ball_s"] = round(ball, 3)
        out["ball_cpu_s"] = round(ball_cpu, 3)
        scan, scan_cpu, leads, found = _scan(matcher, _blocks(records, planted_at, planted_pdq, 18))
        scan, scan_cpu = scan + ball, scan_cpu + ball_cpu
        out["scan_s"] = round(scan, 3)
        out["scan_cpu_s"] = round(scan_cpu, 3)
        out["total_s"] = round(out["index_s"] + out["scan_s"], 3)  # type: ignore[operator]
        out["records_per_s"] = round(records / scan)
        out["records_per_cpu_s"] = round(records / scan_cpu)
        out["leads"] = leads
        out["recall"] = found / planted if planted else None
        out["load_after_scan"] = _load()

        if old_records:
            old_records = min(old_records, records)
            cap = pdq_index.BALL_MAX_ENTRIES
            pdq_index.BALL_MAX_ENTRIES = 0  # the probing multi-index, as before the ball index
            try:
                old, old_cpu, _, old_found = _scan(
                    matcher, _blocks(old_records, planted_at, planted_pdq, 18)
                )
            finally:
                pdq_index.BALL_MAX_ENTRIES = cap
            scale = records / old_records
            out["old_records"] = old_records
            out["old_planted_found"] = old_found
            out["old_scan_s_extrapolated"] = round(old * scale, 1)
            out["old_scan_cpu_s_extrapolated"] = round(old_cpu * scale, 1)
            out["ratio_wall"] = round(old * scale / scan, 2)
            out["ratio_cpu"] = round(old_cpu * scale / scan_cpu, 2)
            out["load_after_old"] = _load()

        sample = rng.integers(0, 256, size=(brute, 32), dtype=np.uint8)
        t0, c0 = time.perf_counter(), time.process_time()
        for start in range(0, brute, 32):
            _popcount_distances(sample[start : start + 32], bank)
        brute_s = time.perf_counter() - t0
        brute_cpu = time.process_time() - c0
        out["brute_sample"] = brute
        out["brute_s_extrapolated"] = round(brute_s * records / brute, 1)
        out["speedup"] = round(out["brute_s_extrapolated"] / scan, 1)  # type: ignore[operator]
        out["speedup_cpu"] = round(brute_cpu * records / brute / scan_cpu, 1)
        out["load_end"] = _load()
        store.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--planted", type=int, default=1000)
    parser.add_argument("--brute", type=int, default=2048)
    parser.add_argument("--old-records", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = run(args.records, args.entries, args.planted, args.brute, args.old_records)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
