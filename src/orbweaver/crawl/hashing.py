"""Fingerprinting media in worker processes, so hashing uses every core the crawler has.

In threads, the reactor (downloads, parsing, Scrapy's bookkeeping), the store writer and the
hashing shared one GIL: a crawler process used ~0.85 of a core however many threads hashed
(py-spy, issue 4). Decoding and PDQ run here in a pool of processes instead; only the bytes go
out and only the signals come back (a 24 KB picture pickles in microseconds). Results arrive as
asyncio futures: Scrapy runs Twisted on the asyncio event loop (its default reactor).

A worker that dies (killed, out of memory on a hostile file) breaks the whole pool in
`concurrent.futures`; every item in flight then fails with `BrokenProcessPool`, and which of them
killed it is unknown. The pool is replaced, and each of those items is hashed again, one at a
time, in a one-worker quarantine pool: a death there names its file. So one bad file costs its
own fingerprint (exact hashes only, logged) and nothing else that was in flight.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from orbweaver.signals import MediaSignals, SignalError, VideoLimits

logger = logging.getLogger(__name__)

Fingerprint = tuple[MediaSignals, list[str] | None]


def default_processes() -> int:
    """One worker per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _init_worker() -> None:
    from orbweaver.signals import (
        compute_signals_dihedral,  # noqa: F401  (NumPy, Pillow: loaded before work)
        limit_blas_threads,
    )

    limit_blas_threads(1)  # the pool is the parallelism (see signals.blas)


def prepare_worker() -> None:
    """A process that fingerprints (a pool worker, a media worker): libraries loaded before
    the first file, BLAS on one thread (the processes are the parallelism)."""
    _init_worker()


def fingerprint(
    data: bytes, max_bytes: int, max_pixels: int, video_limits: VideoLimits | None = None
) -> Fingerprint:
    """Signals and the eight dihedral PDQ hashes (None when not a picture), one decode; a
    video's vPDQ under `video_limits` (the crawl's options), decoded on one thread (the pool
    is the parallelism)."""
    from orbweaver.signals import VideoLimits, compute_signals_dihedral

    limits = video_limits or VideoLimits()
    if limits.decode_threads != 1:
        limits = dataclasses.replace(limits, decode_threads=1)
    return compute_signals_dihedral(
        data, max_bytes=max_bytes, max_pixels=max_pixels, video_limits=limits
    )


def _warm() -> int:
    return os.getpid()


def _timed(
    function: Callable[[bytes, int, int], Fingerprint], data: bytes, max_bytes: int, max_pixels: int
) -> tuple[Fingerprint, float]:
    """The result and the worker's CPU seconds for it: the crawler's own CPU time no longer
    includes hashing, and its statistics should."""
    start = time.process_time()
    try:
        return function(data, max_bytes, max_pixels), time.process_time() - start
    except SignalError as exc:
        exc.cpu_s = time.process_time() - start  # type: ignore[attr-defined]
        raise


class HashPool:
    """A process pool for `fingerprint` (or, in tests, another picklable function of the same
    signature), awaited on the running asyncio loop."""

    def __init__(
        self,
        processes: int,
        *,
        max_bytes: int,
        max_pixels: int,
        function: Callable[[bytes, int, int], Fingerprint] = fingerprint,
    ) -> None:
        self.processes = processes
        self.function = function
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        self._executor = self._new_executor(processes)
        self._quarantine: ProcessPoolExecutor | None = None
        self._quarantine_lock = asyncio.Lock()
        self.replaced = 0
        self.cpu_s = 0.0  # CPU seconds the workers spent on files (not idle, not start-up)

    @staticmethod
    def _new_executor(processes: int) -> ProcessPoolExecutor:
        # forkserver: never fork the reactor's process with its threads and sockets
        context = multiprocessing.get_context("forkserver")
        return ProcessPoolExecutor(processes, mp_context=context, initializer=_init_worker)

    def start(self) -> None:
        """Start every worker now (imports included), not on the first picture."""
        for future in [self._executor.submit(_warm) for _ in range(self.processes)]:
            future.result()

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        if self._quarantine is not None:
            self._quarantine.shutdown(wait=True, cancel_futures=True)

    async def fingerprint(self, data: bytes) -> Fingerprint:
        """SignalError for a file that is not worth fingerprinting or cannot be decoded, as in
        `compute_signals`; a worker that died on this file counts as one that cannot be."""
        executor = self._executor
        try:
            return await self._submit(executor, data)
        except BrokenProcessPool:
            self._replace(executor)
        return await self._isolated(data)

    async def _isolated(self, data: bytes) -> Fingerprint:
        """Hash `data` alone in the quarantine pool: if its worker dies now, `data` killed it."""
        async with self._quarantine_lock:
            if self._quarantine is None:
                self._quarantine = self._new_executor(1)
            try:
                return await self._submit(self._quarantine, data)
            except BrokenProcessPool:
                self._quarantine.shutdown(wait=False, cancel_futures=True)
                self._quarantine = None
                raise SignalError("the hashing worker died on this file") from None

    async def _submit(self, executor: ProcessPoolExecutor, data: bytes) -> Fingerprint:
        future = executor.submit(_timed, self.function, data, self.max_bytes, self.max_pixels)
        try:
            result, cpu_s = await asyncio.wrap_future(future)
        except SignalError as exc:
            self.cpu_s += getattr(exc, "cpu_s", 0.0)
            raise
        self.cpu_s += cpu_s
        return result

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        if broken is not self._executor:
            return  # another item in flight already replaced it
        logger.error("a hashing worker died; starting a new pool of %d", self.processes)
        broken.shutdown(wait=False, cancel_futures=True)
        self._executor = self._new_executor(self.processes)
        self.replaced += 1
