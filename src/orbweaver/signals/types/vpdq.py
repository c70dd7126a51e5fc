"""vPDQ as a signal type: a video's PDQ hashes, one per sampled frame, compared as sets.

The algorithm and defaults are python-threatexchange's (`extensions/vpdq`, ThreatExchange's
`vpdq` README): each feature is a frame's PDQ hash, quality (0-100) and timestamp (seconds).
Two videos compare by their frames of quality ≥ 50 with duplicate hashes removed: the query's
share of frames within PDQ distance 31 of some frame of the other (`query_match_percent`) and the
other's share matched by the query (`compared_match_percent`). A video matches when the query's
share is at least 80%.

The text form is python-threatexchange's (`vpdq_to_json`): a JSON list of `"hex,quality,time"`
strings, which its tools and HMA read; timestamps are written with three decimals.

A near type's `distance` here is `ceil(100 - query_match_percent)`, so "matches within the
threshold" keeps its meaning (≤ 20 ⇔ ≥ 80%) for every caller that only knows distances. The
index (`VpdqIndex`) puts every frame of every video into the multi-index PDQ index with the
video's entry id, gathers candidates per video from one frame search, then counts both shares
exactly as the brute-force comparison does (the frame search returns every frame within 31).
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from orbweaver.signals.base import Hits, Ids, IndexLoader, Query, SignalType

if TYPE_CHECKING:
    from orbweaver.signals.pdq_index import PDQIndex

FRAME_DISTANCE = 31
"""Largest PDQ distance at which two frames are the same (VPDQ_DISTANCE_THRESHOLD)."""
QUALITY_FLOOR = 50
"""Frames below this quality are left out of comparisons (VPDQ_QUALITY_THRESHOLD)."""
MATCH_PERCENT = 80.0
"""A video matches when this share of the query's frames is matched."""
TIMESTAMP_DECIMALS = 3

_FEATURE = re.compile(r"\s*([0-9a-fA-F]{64})\s*,\s*(\d{1,3})\s*,\s*([^,\s]+)\s*")
"""hex,quality,timestamp (python-threatexchange's `VpdqCompactFeature.__str__`)."""


@dataclass(frozen=True)
class VpdqFeature:
    """One sampled frame: PDQ hash (64 hex), quality (0-100) and timestamp (seconds)."""

    pdq: str
    quality: int
    timestamp: float

    def __str__(self) -> str:
        return f"{self.pdq},{self.quality},{self.timestamp:.{TIMESTAMP_DECIMALS}f}"

    @classmethod
    def parse(cls, text: str) -> VpdqFeature:
        """The inverse of `str`; ValueError naming the bad feature. One regular expression
        does the splitting and the hex check (a bank load parses millions of these)."""
        found = _FEATURE.fullmatch(text)
        if found is None:
            raise ValueError(f"not a vPDQ feature (hex,quality,timestamp): {text!r}")
        try:
            timestamp = float(found[3])
        except ValueError:
            raise ValueError(f"vPDQ feature with a bad timestamp: {text!r}") from None
        quality = int(found[2])
        if quality > 100:
            raise ValueError(f"vPDQ feature quality outside 0-100: {text!r}")
        if not (timestamp >= 0 and math.isfinite(timestamp)):
            raise ValueError(f"vPDQ feature with a bad timestamp: {text!r}")
        return cls(found[1].lower(), quality, timestamp)


@dataclass(frozen=True)
class VpdqComparison:
    """Both shares (percent) and which frames matched: the query's timestamps and the other's."""

    query_match_percent: float
    compared_match_percent: float
    query_timestamps: tuple[float, ...] = ()
    compared_timestamps: tuple[float, ...] = ()

    @property
    def is_match(self) -> bool:
        return self.query_match_percent >= MATCH_PERCENT

    @property
    def distance(self) -> int:
        return percent_distance(self.query_match_percent)


def percent_distance(query_match_percent: float) -> int:
    """The type's distance for a query share: 0 for all frames matched, 100 for none."""
    return max(0, math.ceil(100.0 - query_match_percent - 1e-9))


def parse_vpdq(value: str) -> list[VpdqFeature]:
    """A text form (JSON list of feature strings) as features; ValueError when it is not one."""
    try:
        items = json.loads(value)
    except (json.JSONDecodeError, TypeError):
        raise ValueError('not a vPDQ hash (a JSON list of "hex,quality,timestamp")') from None
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ValueError('not a vPDQ hash (a JSON list of "hex,quality,timestamp")')
    if not items:
        raise ValueError("empty vPDQ hash (no frames)")
    return [VpdqFeature.parse(item) for item in items]


def format_vpdq(features: Sequence[VpdqFeature]) -> str:
    """The text form banks store and exchange."""
    return json.dumps([str(f) for f in features], separators=(",", ":"))


def prepare(
    features: Sequence[VpdqFeature], quality_floor: int = QUALITY_FLOOR
) -> list[VpdqFeature]:
    """Frames that take part in a comparison: quality ≥ floor, first of each distinct hash."""
    seen: set[str] = set()
    out = []
    for feature in features:
        if feature.quality >= quality_floor and feature.pdq not in seen:
            seen.add(feature.pdq)
            out.append(feature)
    return out


@dataclass(frozen=True)
class VpdqFrames:
    """A video's usable frames (quality ≥ floor, first of each distinct hash) as arrays: what
    the index needs from a query or a bank video, without a feature object per frame."""

    raw: np.ndarray
    """(n, 32) uint8 PDQ hashes."""
    times: np.ndarray
    """(n,) float64 timestamps (seconds)."""

    def __len__(self) -> int:
        return len(self.times)


def vpdq_frames(value: str, quality_floor: int = QUALITY_FLOOR) -> VpdqFrames:
    """`prepare(parse_vpdq(value))` as arrays; ValueError when `value` is not a vPDQ hash.

    Well-formed text (what `format_vpdq` writes) is split and decoded in bulk; anything else
    goes through `parse_vpdq`, which accepts the same forms and names a bad feature."""
    frames = _frames_fast(value, quality_floor)
    if frames is None:
        usable = prepare(parse_vpdq(value), quality_floor)
        raw = np.frombuffer(bytes.fromhex("".join(f.pdq for f in usable)), dtype=np.uint8)
        times = np.array([f.timestamp for f in usable], dtype=np.float64)
        frames = VpdqFrames(raw.reshape(-1, 32), times)
    return frames


def _frames_fast(value: str, quality_floor: int) -> VpdqFrames | None:
    """The bulk path of `vpdq_frames`, or None when the text is not in the plain form (then
    the exact parser decides, and explains)."""
    try:
        items = json.loads(value)
    except (json.JSONDecodeError, TypeError):
        return None
    if not isinstance(items, list) or not items:
        return None
    n = len(items)
    try:
        parts = ",".join(items).split(",")  # TypeError when an item is not a string
    except TypeError:
        return None
    if len(parts) != 3 * n:
        return None
    hexes, qualities, stamps = parts[0::3], parts[1::3], parts[2::3]
    joined = "".join(hexes)
    if set(map(len, hexes)) != {64} or not joined.isascii() or not joined.isalnum():
        return None  # bytes.fromhex would skip whitespace: only plain hex digits here
    digits = "".join(qualities)
    if not (digits.isascii() and digits.isdigit()) or not 1 <= min(map(len, qualities)) <= 3:
        return None
    if max(map(len, qualities)) > 3:
        return None
    try:
        raw = np.frombuffer(bytes.fromhex(joined), dtype=np.uint8)
        times = np.array(list(map(float, stamps)), dtype=np.float64)  # what the parser reads
    except ValueError:
        return None
    quality = np.array(qualities).astype(np.int64)
    if (quality > 100).any() or not (np.isfinite(times) & (times >= 0)).all():
        return None
    raw = raw.reshape(n, 32)
    keep = np.flatnonzero(quality >= quality_floor)
    if len(keep):
        # first of each distinct hash, in order (prepare's rule)
        _, first = np.unique(raw[keep].view("V32").ravel(), return_index=True)
        keep = keep[np.sort(first)]
    return VpdqFrames(raw[keep], times[keep])


def compare_vpdq(
    query: Sequence[VpdqFeature],
    compared: Sequence[VpdqFeature],
    *,
    frame_distance: int = FRAME_DISTANCE,
    quality_floor: int = QUALITY_FLOOR,
) -> VpdqComparison:
    """Brute-force comparison (python-threatexchange's `match_VPDQ_hash_brute`): the
    reference the index is tested against."""
    q, c = prepare(query, quality_floor), prepare(compared, quality_floor)
    if not q or not c:
        return VpdqComparison(0.0, 0.0)
    qi = [int(f.pdq, 16) for f in q]
    ci = [int(f.pdq, 16) for f in c]
    q_hit = [any((a ^ b).bit_count() <= frame_distance for b in ci) for a in qi]
    c_hit = [any((a ^ b).bit_count() <= frame_distance for b in qi) for a in ci]
    return VpdqComparison(
        100.0 * sum(q_hit) / len(q),
        100.0 * sum(c_hit) / len(c),
        tuple(f.timestamp for f, hit in zip(q, q_hit, strict=True) if hit),
        tuple(f.timestamp for f, hit in zip(c, c_hit, strict=True) if hit),
    )


class VpdqSignalType(SignalType):
    """vPDQ (python-threatexchange's `VideoVPDQSignal`)."""

    name = "vpdq"
    exact = False
    default_threshold = percent_distance(MATCH_PERCENT)
    quality_floor = QUALITY_FLOOR
    missing = None  # a picture has no vPDQ: nothing to say

    @property
    def label(self) -> str:
        return "vPDQ"

    def normalize(self, value: str) -> str:
        return format_vpdq(parse_vpdq(value))

    def distance(self, a: str, b: str) -> int:
        return compare_vpdq(parse_vpdq(a), parse_vpdq(b)).distance

    def compare(self, query: str, compared: str) -> VpdqComparison:
        return compare_vpdq(parse_vpdq(query), parse_vpdq(compared))

    def threshold_for_bank(self, bank_threshold: int) -> int:
        return self.default_threshold

    def queries(self, media: object, quality_floor: int | None = None) -> Query:
        from orbweaver.signals.base import signal_value

        value = signal_value(media, self.name)
        if value is None:
            return (), None
        floor = QUALITY_FLOOR if quality_floor is None else quality_floor
        try:
            usable = vpdq_frames(value, floor)
        except ValueError as exc:
            return (), f"vPDQ unreadable: {exc}"
        if not len(usable):
            return (), f"no vPDQ frame of quality {floor} or more: too little detail to match"
        return (value,), None

    def new_index(self) -> VpdqIndex:
        return VpdqIndex()


VPDQ = VpdqSignalType()


@dataclass(frozen=True)
class VideoHit:
    """One indexed video a query matched, with both shares and the matched frames."""

    entry_id: int
    comparison: VpdqComparison


class VpdqIndex:
    """Videos' frames in the multi-index PDQ index, each frame carrying its video's entry id.

    A search compares no video it does not have to. Candidates come from one batch search of
    the query's usable frames at distance 31, each frame hit naming its video; then each
    candidate's shares are counted exactly, its frames against the query's (a NumPy popcount
    over a few hundred pairs), which is the brute-force comparison's result.

    When only matches are wanted (`min_query_percent`, 80 for the matcher), the candidates
    come from a sample of the query's frames: ⌊n·(1 − p/100)⌋ + 1 of its n frames, evenly
    spread. A video matching at least p% of the query's frames matches at least one frame of
    any such sample (at most n·(1 − p/100) frames miss), so no match is lost, and the frame
    search, which is nearly all the cost, shrinks about fivefold.

    Queries and bank videos are read into arrays in bulk (`vpdq_frames`: one hex decode, no
    object per frame), and the frame hits come back as arrays, mapped to videos by NumPy.
    """

    def __init__(self, quality_floor: int = QUALITY_FLOOR) -> None:
        self.quality_floor = quality_floor
        self._frames: PDQIndex | None = None
        self._chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._words = np.zeros((0, 4), dtype=np.uint64)  # frame id → its 256 bits
        self._frame_video = np.zeros(0, dtype=np.int64)  # frame id → video entry id
        self._frame_time = np.zeros(0, dtype=np.float64)  # frame id → timestamp
        self._video_span: dict[int, tuple[int, int]] = {}  # entry id → first frame id, count
        self._count = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._video_span)

    @property
    def frame_count(self) -> int:
        return self._count

    def _index(self) -> PDQIndex:
        if self._frames is None:
            from orbweaver.signals.pdq_index import PDQIndex

            self._frames = PDQIndex()
        return self._frames

    def add(self, values: Sequence[str], ids: Ids) -> None:
        batch = _Batch()
        batch.extend(values, ids, self.quality_floor)
        self._append_batch(batch)

    def _append_batch(self, batch: _Batch) -> None:
        if batch.count:
            raw = np.concatenate(batch.raws)
            videos, times = np.concatenate(batch.videos), np.concatenate(batch.times)
            batch.raws, batch.videos, batch.times = [], [], []
            self._append(raw, videos, times, batch.spans)

    def _append(
        self,
        raw: np.ndarray,
        videos: np.ndarray,
        times: np.ndarray,
        spans: dict[int, tuple[int, int]],
    ) -> None:
        with self._lock:
            first = self._count
            n = len(raw)
            self._words = np.concatenate([self._words, _as_words(raw)])
            self._frame_video = np.concatenate([self._frame_video, videos])
            self._frame_time = np.concatenate([self._frame_time, times])
            self._video_span.update(
                {video: (first + start, count) for video, (start, count) in spans.items()}
            )
            self._count += n
            self._index().add(raw, np.arange(first, first + n, dtype=np.int64), copy=False)

    def loader(self, capacity: int) -> IndexLoader:
        """A bank load's frames gathered and added at once: one segment of the frame index
        built once, rather than chunks merged level by level (at 1M frames the build took 15 s
        instead of 27 s; lookups cost the same)."""
        return _VpdqLoader(self)

    def search(self, queries: Sequence[str], threshold: int) -> list[Hits]:
        """For each query video, the videos whose query share is within `threshold` (the
        type's distance), closest first."""
        floor = 100.0 - threshold
        out = []
        for query in queries:
            hits = [
                (h.entry_id, h.comparison.distance)
                for h in self.search_videos(query, min_query_percent=floor)
                if h.comparison.distance <= threshold
            ]
            out.append(sorted(hits, key=lambda hit: (hit[1], hit[0])))
        return out

    def search_videos(
        self,
        query: str,
        *,
        frame_distance: int = FRAME_DISTANCE,
        min_query_percent: float = 0.0,
    ) -> list[VideoHit]:
        """Indexed videos sharing a frame with `query`, with both shares; with
        `min_query_percent`, at least those matching that share (see the class docstring)."""
        frames = vpdq_frames(query, self.quality_floor)
        state = self._frames
        if not len(frames) or state is None or self._count == 0:
            return []
        sample = _sample(len(frames), min_query_percent)
        _q, frame_ids, _d = state.search_flat(frames.raw[sample], frame_distance)
        candidates = np.unique(self._frame_video[frame_ids]).tolist()
        words = _as_words(frames.raw)
        found = []
        for video in candidates:
            comparison = self._compare(video, frames, words, frame_distance)
            if comparison.query_match_percent >= min_query_percent:
                found.append(VideoHit(video, comparison))
        found.sort(key=lambda h: (-h.comparison.query_match_percent, h.entry_id))
        return found

    def _compare(
        self, video: int, frames: VpdqFrames, words: np.ndarray, frame_distance: int
    ) -> VpdqComparison:
        first, count = self._video_span[video]
        theirs = self._words[first : first + count]
        close = np.bitwise_count(words[:, None, :] ^ theirs[None, :, :]).sum(axis=2)
        close = close <= frame_distance
        q_hit, c_hit = close.any(axis=1), close.any(axis=0)
        times = self._frame_time[first : first + count]
        return VpdqComparison(
            100.0 * int(q_hit.sum()) / len(frames),
            100.0 * int(c_hit.sum()) / count,
            tuple(frames.times[q_hit].tolist()),
            tuple(times[c_hit].tolist()),
        )


class _Batch:
    """Usable frames of many videos, relative spans (first frame, count) by entry id."""

    def __init__(self) -> None:
        self.raws: list[np.ndarray] = []
        self.times: list[np.ndarray] = []
        self.videos: list[np.ndarray] = []
        self.count = 0
        self.spans: dict[int, tuple[int, int]] = {}

    def extend(self, values: Sequence[str], ids: Ids, quality_floor: int) -> None:
        ids_list = ids.tolist() if isinstance(ids, np.ndarray) else [int(i) for i in ids]
        for value, entry_id in zip(values, ids_list, strict=True):
            frames = vpdq_frames(value, quality_floor)
            n = len(frames)
            if not n:
                continue
            self.spans[entry_id] = (self.count, n)
            self.raws.append(frames.raw)
            self.times.append(frames.times)
            self.videos.append(np.full(n, entry_id, dtype=np.int64))
            self.count += n


class _VpdqLoader:
    def __init__(self, index: VpdqIndex) -> None:
        self.index = index
        self.batch = _Batch()

    def extend(self, values: Sequence[str], ids: Ids) -> None:
        self.batch.extend(values, ids, self.index.quality_floor)

    def finish(self) -> None:
        self.index._append_batch(self.batch)
        self.batch = _Batch()


def _sample(n: int, min_query_percent: float) -> np.ndarray:
    """Indices of enough of n query frames that a video matching `min_query_percent` of them
    matches at least one of these (all of them when the share is 0)."""
    if min_query_percent <= 0:
        return np.arange(n)
    k = min(n, math.floor(n * (1.0 - min_query_percent / 100.0) + 1e-9) + 1)
    return np.unique(np.linspace(0, n - 1, k).round().astype(np.int64))


def _as_words(raw: np.ndarray) -> np.ndarray:
    """(n, 32) hash bytes as (n, 4) 64-bit words, for popcounts."""
    return np.ascontiguousarray(raw).view(">u8").astype(np.uint64).reshape(-1, 4)
