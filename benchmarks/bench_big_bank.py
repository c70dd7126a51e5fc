"""A big PDQ bank through `Matcher` (issue 17's 60-million-entry target, scalable down).

    .venv/bin/python -m benchmarks.bench_big_bank [--entries 60000000] [--new 100000]
        [--queries 1000] [--brute 50] [--json OUT.json]

A SQLite store gets `--entries` random PDQ entries in one bank (sqlite3 `executemany`, not timed);
then, on one core:

- `load_s` and `rss_mib`: `Matcher.refresh()` from empty, and the process's resident memory growth
  over it (the index, the per-entry arrays; SQLite's page cache included); `peak_rss_mib`: the
  high-water mark's growth over the same start (the load's temporaries included);
- `lookups_per_s`: single `match_pdq` calls, half of them planted 1..31 bits from an entry, half
  random; `recall` of the planted ones against a NumPy scan of the whole bank on `--brute` of
  them (the scan's rate is the baseline, `scan_per_s`);
- `refresh_new_s`: `--new` entries inserted, then one `refresh()` (no full reload: the new rows
  are read by id above the watermark and added as one more index segment).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import sqlite3  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from orbweaver.banks import create_bank  # noqa: E402
from orbweaver.banks.matcher import Matcher  # noqa: E402
from orbweaver.clock import SettableClock  # noqa: E402
from orbweaver.store import open_store  # noqa: E402


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _peak_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _insert(path: Path, bank_id: int, hashes: np.ndarray, start: int) -> None:
    conn = sqlite3.connect(path)
    rows = (
        (start + i, bank_id, "pdq", h.tobytes().hex(), "csam_prepubescent", "", "2026-12-04")
        for i, h in enumerate(hashes)
    )
    conn.executemany(
        "INSERT INTO bank_entry (id, bank_id, signal_type, signal, category, source, added_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.commit()
    conn.close()


def _flip(h: np.ndarray, bits: int, rng: np.random.Generator) -> np.ndarray:
    out = h.copy()
    for b in rng.choice(256, size=bits, replace=False).tolist():
        out[b // 8] ^= 1 << (b % 8)
    return out


def run(entries: int, new: int, queries: int, brute: int) -> dict[str, object]:
    rng = np.random.default_rng(60)
    out: dict[str, object] = {"entries": entries, "new": new, "load_start": _load()}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bank.db"
        store = open_store(f"sqlite:///{path}")
        bank_id = create_bank(store, SettableClock(), "big").id
        chunk = 1_000_000
        sample: list[np.ndarray] = []
        for start in range(0, entries, chunk):
            hashes = rng.integers(0, 256, size=(min(chunk, entries - start), 32), dtype=np.uint8)
            sample.append(hashes[: max(1, queries // 2 // max(1, entries // chunk))])
            _insert(path, bank_id, hashes, start + 1)
        planted_from = np.concatenate(sample)[: queries // 2]
        rss0 = _rss_mib()
        matcher = Matcher(store)
        t0 = time.perf_counter()
        matcher.refresh()
        out["load_s"] = round(time.perf_counter() - t0, 2)
        out["rss_mib"] = round(_rss_mib() - rss0)
        out["peak_rss_mib"] = round(_peak_mib() - rss0)  # the load's high-water mark
        out["load_after_load"] = _load()

        planted = [_flip(h, int(rng.integers(1, 32)), rng).tobytes().hex() for h in planted_from]
        randoms = [rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex() for _ in planted]
        asked = planted + randoms
        found: list[int] = []
        matcher.match_pdq(randoms[0])  # the kernels compile on first use: not timed
        t0, c0 = time.perf_counter(), time.process_time()
        for q in asked:
            found.append(len(matcher.match_pdq(q)))
        out["lookups_per_s"] = round(len(asked) / (time.perf_counter() - t0))
        out["lookups_per_cpu_s"] = round(len(asked) / (time.process_time() - c0))
        out["planted_found"] = sum(1 for n in found[: len(planted)] if n)
        out["load_after_lookups"] = _load()

        # recall against a scan of the whole bank, on `brute` planted queries
        conn = sqlite3.connect(path)
        bank = np.empty((entries, 32), dtype=np.uint8)  # read in chunks: no list of 60M rows
        cursor = conn.execute("SELECT signal FROM bank_entry ORDER BY id")
        at = 0
        while rows := cursor.fetchmany(1_000_000):
            raw = bytes.fromhex("".join(r[0] for r in rows))
            bank[at : at + len(rows)] = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 32)
            at += len(rows)
        conn.close()
        words = bank.view(np.uint64)
        agree = 0
        t0 = time.perf_counter()
        for q in planted[:brute]:
            qw = np.frombuffer(bytes.fromhex(q), dtype=np.uint8).view(np.uint64)
            dist = np.bitwise_count(words ^ qw).sum(axis=1)
            want = set((np.flatnonzero(dist <= 31) + 1).tolist())
            got = {m.entry_id for m in matcher.match_pdq(q)}
            agree += want == got
        out["scan_per_s"] = round(brute / (time.perf_counter() - t0), 2)
        out["recall_vs_scan"] = agree / brute if brute else None
        del bank, words

        _insert(path, bank_id, rng.integers(0, 256, size=(new, 32), dtype=np.uint8), entries + 1)
        t0 = time.perf_counter()
        matcher.refresh()
        out["refresh_new_s"] = round(time.perf_counter() - t0, 2)
        out["size_after"] = matcher.size
        out["load_end"] = _load()
        store.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=60_000_000)
    parser.add_argument("--new", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--brute", type=int, default=50)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = run(args.entries, args.new, args.queries, args.brute)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
