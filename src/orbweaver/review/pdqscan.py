"""Brute-force nearest PDQ distances, for two jobs the match index does not do.

The matcher answers "within the bank threshold"; priority wants "how close is the nearest
known entry, even outside it", and grouping wants "is there an open item within a few bits".
Both run at ingest time, not per request, so a vectorised scan is fast enough and exact.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np


def to_words(hexes: Sequence[str]) -> np.ndarray:
    """(n, 4) uint64 from 64-hex-character PDQ hashes."""
    raw = b"".join(bytes.fromhex(h) for h in hexes)
    return np.frombuffer(raw, dtype=np.uint64).reshape(-1, 4).copy()


class PdqSet:
    """An append-only set of (PDQ, id) with a nearest-neighbour query."""

    def __init__(self) -> None:
        self._words = np.zeros((0, 4), dtype=np.uint64)
        self._ids = np.zeros(0, dtype=np.int64)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, hexes: Sequence[str], ids: Sequence[int]) -> None:
        if not hexes:
            return
        words = to_words(hexes)
        with self._lock:
            self._words = np.concatenate([self._words, words])
            self._ids = np.concatenate([self._ids, np.asarray(ids, dtype=np.int64)])

    def within(self, pdq_hex: str, distance: int, *, limit: int = 20) -> list[tuple[int, int]]:
        """(id, distance) of entries within `distance` bits, nearest first."""
        words, ids = self._words, self._ids
        if not len(ids):
            return []
        dist = np.bitwise_count(words ^ to_words([pdq_hex])[0]).sum(axis=1)
        rows = np.flatnonzero(dist <= distance)
        rows = rows[np.argsort(dist[rows], kind="stable")][:limit]
        return [(int(ids[r]), int(dist[r])) for r in rows]

    def nearest(self, pdq_hex: str) -> tuple[int, int] | None:
        """(id, distance) of the nearest entry, or None when empty."""
        words, ids = self._words, self._ids
        if not len(ids):
            return None
        dist = np.bitwise_count(words ^ to_words([pdq_hex])[0]).sum(axis=1)
        row = int(np.argmin(dist))
        return int(ids[row]), int(dist[row])
