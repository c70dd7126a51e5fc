"""One BLAS thread per caller wherever pictures are hashed from a pool of threads or processes.

The crawl hashes pictures in a pool, the Shield API in the web server's thread pool; PDQ's grid
is two small matrix products (NumPy → OpenBLAS). A threaded OpenBLAS called from several
threads at once spends its time handing tiny products to its own workers and waiting for them:
on 2 cores the crawl hashed at ~10 media/s against ~100/s for one plain thread (measured,
issue 4). The pool already supplies the parallelism, so each product should run on its
caller's thread.

`OPENBLAS_NUM_THREADS=1` only works before NumPy loads, which a CLI cannot promise; this sets the
same limit at run time through OpenBLAS's own entry point (what threadpoolctl does), for every
OpenBLAS the process has loaded. Linux only (reads /proc/self/maps); elsewhere it does nothing.
"""

from __future__ import annotations

import ctypes
import logging
import os

logger = logging.getLogger(__name__)

_SETTERS = (
    "scipy_openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads",
    "openblas_set_num_threads64_",
    "openblas_set_num_threads",
)


def _loaded_openblas() -> list[str]:
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            paths = {line.split()[-1] for line in maps if "/" in line}
    except OSError:
        return []
    return sorted(p for p in paths if "openblas" in os.path.basename(p).lower())


def limit_blas_threads(threads: int = 1) -> int:
    """Limit every loaded OpenBLAS to `threads` threads; returns how many libraries were set."""
    import numpy  # noqa: F401  (loads NumPy's OpenBLAS, so there is something to limit)

    done = 0
    for path in _loaded_openblas():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _SETTERS:
            setter = getattr(lib, name, None)
            if setter is not None:
                setter(ctypes.c_int(threads))
                done += 1
                break
    logger.debug("BLAS limited to %d thread(s) in %d librar(y/ies)", threads, done)
    return done
