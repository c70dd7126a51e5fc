"""BLAS limited to one thread per caller (the hashing pool and the Shield's thread pool)."""

from __future__ import annotations

import pytest


def test_blas_limited_to_the_calling_thread_in_a_crawler() -> None:
    """Threaded OpenBLAS under the hashing pool made the crawl ~8x slower than one plain thread
    (issue 4); the crawl limits it at run time. Checked in a child: the limit is process-wide."""
    import subprocess
    import sys

    code = (
        "import ctypes\n"
        "from orbweaver.signals.blas import _loaded_openblas, limit_blas_threads\n"
        "n = limit_blas_threads(1)\n"
        "libs = [ctypes.CDLL(p) for p in _loaded_openblas()]\n"
        "getters = [getattr(lib, g, None) for lib in libs for g in "
        "('scipy_openblas_get_num_threads64_', 'openblas_get_num_threads')]\n"
        "print(n, [g() for g in getters if g is not None])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split(maxsplit=1)
    if out[0] == "0":
        pytest.skip("NumPy here is not linked to OpenBLAS")
    assert set(eval(out[1])) == {1}
