"""The crawl's hashing pool: worker processes give the same fingerprints as the library, bad
files fail alone, and a worker that dies takes down only the file it was hashing."""

from __future__ import annotations

import asyncio
import os

from loopback import synthetic_jpeg, synthetic_png

from orbweaver.crawl.hashing import Fingerprint, HashPool, fingerprint
from orbweaver.signals import SignalError
from orbweaver.signals.compute import compute_signals_dihedral

LIMITS = {"max_bytes": 1 << 20, "max_pixels": 4_000_000}


def dies_on_poison(data: bytes, max_bytes: int, max_pixels: int) -> Fingerprint:
    """Kills its worker process, as the OOM killer would, for one particular file."""
    if data == b"poison":
        os._exit(9)
    return fingerprint(data, max_bytes, max_pixels)


def run(pool: HashPool, files: list[bytes]) -> list[Fingerprint | BaseException]:
    async def main() -> list[Fingerprint | BaseException]:
        return await asyncio.gather(*(pool.fingerprint(f) for f in files), return_exceptions=True)

    try:
        pool.start()
        return asyncio.run(main())
    finally:
        pool.close()


def test_pool_matches_the_library_and_reports_bad_files_alone() -> None:
    good = [synthetic_jpeg(i) for i in range(6)] + [synthetic_png(7)]
    truncated = synthetic_jpeg(8)[:300]
    not_a_picture = b"PK\x03\x04 not really a zip, but not a picture either"
    pool = HashPool(2, **LIMITS)
    results = run(pool, [*good, truncated, not_a_picture])
    for data, got in zip(good, results, strict=False):
        assert got == compute_signals_dihedral(data, **LIMITS)
    assert isinstance(results[len(good)], SignalError)
    signals, dihedral = results[-1]  # type: ignore[misc]
    assert signals.pdq is None and dihedral is None and signals.size_bytes == len(not_a_picture)
    assert pool.cpu_s > 0  # the workers report the CPU they spent, for the crawl statistics


def test_a_dead_worker_costs_only_its_own_file() -> None:
    files = [synthetic_jpeg(i) for i in range(8)]
    pool = HashPool(2, **LIMITS, function=dies_on_poison)
    results = run(pool, [*files[:4], b"poison", *files[4:]])
    error = results[4]
    assert isinstance(error, SignalError) and "died" in str(error)
    others = results[:4] + results[5:]
    assert [r for r in others if isinstance(r, BaseException)] == []
    assert [r[0].sha256 for r in others] == [  # type: ignore[index]
        compute_signals_dihedral(f, **LIMITS)[0].sha256 for f in files
    ]
    assert pool.replaced == 1  # one breakage: the retries ran in quarantine, one at a time


def test_oversized_file_is_refused_in_the_worker() -> None:
    (result,) = run(HashPool(1, max_bytes=100, max_pixels=1000), [synthetic_jpeg(1)])
    assert isinstance(result, SignalError) and "too large" in str(result)
