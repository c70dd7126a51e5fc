"""The compact layout for what matched nothing (issue 22): a fetched picture that matched no list
on a host without detections is never looked at again, so it keeps only

- its signals, packed (`media_signal_block`): 64 bytes a media, deduplicated by sha256 when
  `orbweaver db maintain` compacts the day's blocks, enough for retroactive matching when a
  list grows (see the record layout below);
- that its URL was seen on its host (`crawl_seen`: 8 bytes of the URL's SHA-256 a sighting,
  one row a host and batch), kept `retention_days`, for re-crawls;
- a count per host and day (`crawl_host_day`), for reports.

Detections and suspects keep their full `media` and `sighting` rows, unchanged.

Record layout (64 bytes, big-endian, sorted by sha256 inside a block):
    sha256[:16] | md5[:8] | sha1[:8] | pdq (32 bytes, zeros when none or below quality).
A 128-bit prefix of SHA-256 identifies a file (a collision among 10^12 files has odds about
10^-15); 64-bit prefixes of MD5 and SHA-1 are only for matching lists that carry those: against
10^7 list entries and 10^11 kept media the expected number of false candidates is about 0.05,
and a retroactive hit is a lead for a re-fetch, not a detection.

Videos (issue 16) also keep their vPDQ frames (`media_video_block`), whatever layout their
sighting took, so a video list that grows is matched against every video the crawl saw. A
record is variable-length (big-endian):
    sha256[:16] | frames (u32) | frames × (pdq 32 bytes | quality u8 | timestamp ms u32)
37 bytes a frame: a minute at one frame a second is 2.2 KB. Blocks are sorted by sha256 and
deduplicated like the signal blocks (`compact_videos`, run by `db maintain`).
"""

from __future__ import annotations

import bisect
import hashlib
import secrets
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from orbweaver.store.models import CrawlHostDay, CrawlSeen, MediaSignalBlock, MediaVideoBlock
from orbweaver.store.times import store_time

RECORD = 64
URL_HASH = 8
# Media per compacted block: a lookup by sha256 reads one block (64 KiB) found by its `lo`.
BLOCK_RECORDS = 1024
_NO_PDQ = bytes(32)
SEEN_PER_ROW = 96


@dataclass(frozen=True)
class CompactSignals:
    """What a record keeps of one media's signals; hex in, hex (or prefixes) out."""

    sha256_prefix: bytes
    md5_prefix: bytes
    sha1_prefix: bytes
    pdq: bytes | None

    @classmethod
    def of(cls, sha256: str, md5: str, sha1: str, pdq: str | None) -> CompactSignals:
        return cls(
            bytes.fromhex(sha256)[:16],
            bytes.fromhex(md5)[:8],
            bytes.fromhex(sha1)[:8],
            bytes.fromhex(pdq) if pdq else None,
        )

    def pack(self) -> bytes:
        return self.sha256_prefix + self.md5_prefix + self.sha1_prefix + (self.pdq or _NO_PDQ)

    @classmethod
    def unpack(cls, record: bytes) -> CompactSignals:
        pdq = record[32:64]
        return cls(record[:16], record[16:24], record[24:32], None if pdq == _NO_PDQ else pdq)


def url_digest(url: str) -> bytes:
    """The 8 bytes a seen URL keeps: per host, 10^9 URLs collide with odds about 3 in 100."""
    return hashlib.sha256(url.encode()).digest()[:URL_HASH]


def _records(signals: Iterable[CompactSignals]) -> list[bytes]:
    """Packed, deduplicated by sha256 prefix, sorted (lookups bisect a block)."""
    unique = {s.sha256_prefix: s.pack() for s in signals}
    return [unique[k] for k in sorted(unique)]


def _block_row(records: list[bytes], at: datetime, compacted: bool) -> dict[str, Any]:
    return {
        "created_at": at,
        "compacted": compacted,
        "n": len(records),
        "lo": records[0][:16],
        "hi": records[-1][:16],
        "records": b"".join(records),
    }


def write_signals(session: Session, signals: Iterable[CompactSignals], at: datetime) -> int:
    """One block for a batch's unmatched media (deduplicated within it; across blocks later,
    by `compact_signals`). Returns how many records were written."""
    records = _records(signals)
    if records:
        session.execute(sa.insert(MediaSignalBlock), [_block_row(records, store_time(at), False)])
    return len(records)


def write_seen(session: Session, urls_by_host: dict[str, list[str]], at: datetime) -> None:
    """Rows per host of the batch's unmatched URLs there, 8 bytes each, at most `SEEN_PER_ROW`
    a row: a longer row spills to an overflow page on SQLite (a WITHOUT ROWID row keeps about
    1,000 bytes in its b-tree page), which wasted more than the hashes took."""
    naive = store_time(at)
    rows = []
    for host, urls in urls_by_host.items():
        hashes = sorted({url_digest(u) for u in urls})
        for i in range(0, len(hashes), SEEN_PER_ROW):
            chunk = hashes[i : i + SEEN_PER_ROW]
            rows.append(
                {
                    "id": secrets.randbits(62),
                    "seen_at": naive,
                    "host": host,
                    "n": len(chunk),
                    "url_hashes": b"".join(chunk),
                }
            )
    if rows:
        session.execute(sa.insert(CrawlSeen), rows)


def count_host_day(session: Session, counts: dict[str, tuple[int, int]], at: datetime) -> None:
    """Add (pictures fetched, pictures unmatched) per host to today's counts (an upsert: two
    crawler processes add to the same row)."""
    if not counts:
        return
    day = store_time(at).date().isoformat()
    rows = [
        {"host": host, "day": day, "fetched": fetched, "unmatched": unmatched}
        for host, (fetched, unmatched) in sorted(counts.items())
    ]
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    stmt = insert(CrawlHostDay)
    stmt = stmt.on_conflict_do_update(
        index_elements=["host", "day"],
        set_={
            "fetched": CrawlHostDay.fetched + stmt.excluded.fetched,
            "unmatched": CrawlHostDay.unmatched + stmt.excluded.unmatched,
        },
    )
    session.execute(stmt, rows)


def seen_urls(session: Session, host: str, urls: Iterable[str], since: datetime) -> set[str]:
    """Which of `urls` were seen unmatched on `host` since `since` (re-crawls: a URL seen
    before need not be fetched again before its turn)."""
    wanted = {url_digest(u): u for u in urls}
    found: set[str] = set()
    blobs = session.scalars(
        sa.select(CrawlSeen.url_hashes).where(
            CrawlSeen.host == host, CrawlSeen.seen_at >= store_time(since)
        )
    )
    for blob in blobs:
        for i in range(0, len(blob), URL_HASH):
            url = wanted.get(blob[i : i + URL_HASH])
            if url is not None:
                found.add(url)
    return found


def iter_signals(session: Session) -> Iterator[CompactSignals]:
    """Every kept record (retroactive matching scans them when a list grows)."""
    for blob in session.scalars(sa.select(MediaSignalBlock.records)):
        for i in range(0, len(blob), RECORD):
            yield CompactSignals.unpack(blob[i : i + RECORD])


def find_sha256(session: Session, sha256: str) -> CompactSignals | None:
    """The record of one media by sha256: the blocks whose range holds it, each bisected."""
    key = bytes.fromhex(sha256)[:16]
    blocks = session.scalars(
        sa.select(MediaSignalBlock.records).where(
            MediaSignalBlock.lo <= key, MediaSignalBlock.hi >= key
        )
    )
    for blob in blocks:
        found = _bisect(blob, key)
        if found is not None:
            return CompactSignals.unpack(found)
    return None


def _bisect(blob: bytes, key: bytes) -> bytes | None:
    lo, hi = 0, len(blob) // RECORD
    while lo < hi:
        mid = (lo + hi) // 2
        probe = blob[mid * RECORD : mid * RECORD + 16]
        if probe < key:
            lo = mid + 1
        elif probe > key:
            hi = mid
        else:
            return blob[mid * RECORD : (mid + 1) * RECORD]
    return None


def compact_signals(session: Session, before: datetime) -> tuple[int, int]:
    """Merge the loose blocks (one a batch) written before `before` into sorted blocks of
    `BLOCK_RECORDS`, dropping media already kept in a compacted block. Returns (records read,
    records kept).

    Deduplication streams over the compacted blocks once (a merge, linear in what is kept): at
    Arachnid's volume this is per shard of the sha256 space (docs/scaling.md)."""
    cutoff = store_time(before)
    loose = session.execute(
        sa.select(MediaSignalBlock.id, MediaSignalBlock.records).where(
            MediaSignalBlock.compacted.is_(False), MediaSignalBlock.created_at < cutoff
        )
    ).all()
    if not loose:
        return 0, 0
    merged: dict[bytes, bytes] = {}
    for _, blob in loose:
        for i in range(0, len(blob), RECORD):
            merged.setdefault(blob[i : i + 16], blob[i : i + RECORD])
    read = sum(len(blob) // RECORD for _, blob in loose)
    keys = sorted(merged)
    kept = session.execute(
        sa.select(MediaSignalBlock.lo, MediaSignalBlock.hi, MediaSignalBlock.records).where(
            MediaSignalBlock.compacted.is_(True)
        )
    )
    for lo, hi, blob in kept:
        start = bisect.bisect_left(keys, lo)
        for key in keys[start : bisect.bisect_right(keys, hi)]:
            if key in merged and _bisect(blob, key) is not None:
                del merged[key]
    records = [merged[k] for k in sorted(merged)]
    session.execute(
        sa.delete(MediaSignalBlock).where(MediaSignalBlock.id.in_([row.id for row in loose]))
    )
    rows = [
        _block_row(records[i : i + BLOCK_RECORDS], cutoff, True)
        for i in range(0, len(records), BLOCK_RECORDS)
    ]
    if rows:
        session.execute(sa.insert(MediaSignalBlock), rows)
    return read, len(records)


# --- videos' vPDQ frames (issue 16) ---------------------------------------------------------

_FRAME = struct.Struct(">32sBI")
_VIDEO_HEAD = struct.Struct(">16sI")


@dataclass(frozen=True)
class CompactVideo:
    """What a record keeps of one video: its sha256 prefix and its vPDQ frames, each
    (PDQ hex, quality, timestamp in seconds, to the millisecond)."""

    sha256_prefix: bytes
    frames: tuple[tuple[str, int, float], ...]

    @classmethod
    def of(cls, sha256: str, frames: Iterable[tuple[str, int, float]]) -> CompactVideo:
        return cls(
            bytes.fromhex(sha256)[:16],
            tuple((pdq.lower(), int(q), round(float(t), 3)) for pdq, q, t in frames),
        )

    def pack(self) -> bytes:
        parts = [_VIDEO_HEAD.pack(self.sha256_prefix, len(self.frames))]
        parts.extend(
            _FRAME.pack(bytes.fromhex(pdq), quality, round(t * 1000))
            for pdq, quality, t in self.frames
        )
        return b"".join(parts)


def _video_records(blob: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(sha256 prefix, whole record) of each record in a block, in order."""
    at = 0
    while at < len(blob):
        key, n = _VIDEO_HEAD.unpack_from(blob, at)
        end = at + _VIDEO_HEAD.size + n * _FRAME.size
        yield key, blob[at:end]
        at = end


def _unpack_video(record: bytes) -> CompactVideo:
    key, n = _VIDEO_HEAD.unpack_from(record, 0)
    frames = tuple(
        (pdq.hex(), quality, ms / 1000)
        for pdq, quality, ms in _FRAME.iter_unpack(record[_VIDEO_HEAD.size :])
    )
    assert len(frames) == n, "a video record's frame count disagrees with its length"
    return CompactVideo(key, frames)


def _video_block_row(records: list[bytes], at: datetime, compacted: bool) -> dict[str, Any]:
    return {
        "created_at": at,
        "compacted": compacted,
        "n": len(records),
        "lo": records[0][:16],
        "hi": records[-1][:16],
        "records": b"".join(records),
    }


def write_videos(session: Session, videos: Iterable[CompactVideo], at: datetime) -> int:
    """One block for a batch's videos (deduplicated within it; across blocks by
    `compact_videos`). Returns how many records were written."""
    unique = {v.sha256_prefix: v.pack() for v in videos if v.frames}
    records = [unique[k] for k in sorted(unique)]
    if records:
        session.execute(
            sa.insert(MediaVideoBlock), [_video_block_row(records, store_time(at), False)]
        )
    return len(records)


def iter_videos(session: Session) -> Iterator[CompactVideo]:
    """Every kept video's frames (retroactive matching of a grown video list scans them)."""
    for blob in session.scalars(sa.select(MediaVideoBlock.records)):
        for _, record in _video_records(blob):
            yield _unpack_video(record)


def find_video(session: Session, sha256: str) -> CompactVideo | None:
    """The kept frames of one video by sha256 (the blocks whose range holds it)."""
    key = bytes.fromhex(sha256)[:16]
    blocks = session.scalars(
        sa.select(MediaVideoBlock.records).where(
            MediaVideoBlock.lo <= key, MediaVideoBlock.hi >= key
        )
    )
    for blob in blocks:
        for found, record in _video_records(blob):
            if found == key:
                return _unpack_video(record)
    return None


def compact_videos(session: Session, before: datetime) -> tuple[int, int]:
    """`compact_signals` for video blocks: loose blocks written before `before` merged into
    sorted blocks of about `BLOCK_RECORDS × 64` bytes, videos already kept dropped. Returns
    (records read, records kept)."""
    cutoff = store_time(before)
    loose = session.execute(
        sa.select(MediaVideoBlock.id, MediaVideoBlock.records).where(
            MediaVideoBlock.compacted.is_(False), MediaVideoBlock.created_at < cutoff
        )
    ).all()
    if not loose:
        return 0, 0
    merged: dict[bytes, bytes] = {}
    read = 0
    for _, blob in loose:
        for key, record in _video_records(blob):
            merged.setdefault(key, record)
            read += 1
    keys = sorted(merged)
    kept = session.execute(
        sa.select(MediaVideoBlock.lo, MediaVideoBlock.hi, MediaVideoBlock.records).where(
            MediaVideoBlock.compacted.is_(True)
        )
    )
    for lo, hi, blob in kept:
        if bisect.bisect_left(keys, lo) == bisect.bisect_right(keys, hi):
            continue
        for key, _ in _video_records(blob):
            merged.pop(key, None)
    records = [merged[k] for k in sorted(merged)]
    session.execute(
        sa.delete(MediaVideoBlock).where(MediaVideoBlock.id.in_([row.id for row in loose]))
    )
    rows, chunk, size = [], [], 0
    for record in records:
        chunk.append(record)
        size += len(record)
        if size >= BLOCK_RECORDS * RECORD:
            rows.append(_video_block_row(chunk, cutoff, True))
            chunk, size = [], 0
    if chunk:
        rows.append(_video_block_row(chunk, cutoff, True))
    if rows:
        session.execute(sa.insert(MediaVideoBlock), rows)
    return read, len(records)


def expire_seen(session: Session, before: datetime) -> int:
    """Delete seen-URL rows older than the retention (SQLite; PostgreSQL drops partitions
    first, `orbweaver.store.partitions`, and this sweeps the default partition)."""
    result = session.execute(sa.delete(CrawlSeen).where(CrawlSeen.seen_at < store_time(before)))
    return int(getattr(result, "rowcount", 0) or 0)


def retention_horizon(now: datetime, days: float) -> datetime:
    return now - timedelta(days=days)
