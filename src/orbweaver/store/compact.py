"""The compact layout for what matched nothing (issue 22): a fetched picture that matched no list
on a host without detections is never looked at again, so it keeps only

- its signals, packed (`media_signal_block`): 60 bytes a media, deduplicated by sha256 when
  `orbweaver db maintain` compacts the day's blocks, enough for retroactive matching when a
  list grows (see the record layout below);
- that its URL was seen on its host (`crawl_seen`: 8 bytes of the URL's SHA-256 a sighting,
  one row a host and batch), kept `retention_days`, for re-crawls;
- a count per host and day (`crawl_host_day`), for reports.

Detections and suspects keep their full `media` and `sighting` rows, unchanged.

Record layout (60 bytes, big-endian, sorted by sha256 inside a block):
    sha256[:12] | md5[:8] | sha1[:8] | pdq (32 bytes, zeros when none or below quality).
A 96-bit prefix of SHA-256 identifies a file (a collision among 10^12 files has odds about
6 in 10^6, among 10^11 about 6 in 10^8; migration 0015 cut it from 128 bits); 64-bit
prefixes of MD5 and SHA-1 are only for matching lists that carry those: against
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
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from orbweaver.store.models import (
    CrawlErrorDay,
    CrawlHostDay,
    CrawlSeen,
    MediaSignalBlock,
    MediaVideoBlock,
)
from orbweaver.store.times import store_time

KEY = 12
RECORD = KEY + 8 + 8 + 32
URL_HASH = 8
# Media per compacted block: a lookup by sha256 reads one block (60 KiB) found by its `lo`.
BLOCK_RECORDS = 1024
_NO_PDQ = bytes(32)
SEEN_PER_ROW = 96
MERGE_SEEN_DAYS = 7
# A compacted block's Bloom filter of its keys (`bloom_of`): 10 bits a record, 6 positions.
BLOOM_BITS = 10
BLOOM_K = 6


@dataclass(frozen=True)
class CompactSignals:
    """What a record keeps of one media's signals; hex in, hex (or prefixes) out."""

    KEY_BYTES: ClassVar[int] = KEY
    """Bytes of sha256 a record keeps (its key; the md5 and sha1 prefixes follow, 8 bytes each)."""
    RECORD_BYTES: ClassVar[int] = RECORD
    """Bytes of one packed record (the PDQ, 32 bytes, last), for readers of whole blocks."""

    sha256_prefix: bytes
    md5_prefix: bytes
    sha1_prefix: bytes
    pdq: bytes | None

    @classmethod
    def of(cls, sha256: str, md5: str, sha1: str, pdq: str | None) -> CompactSignals:
        return cls(
            bytes.fromhex(sha256)[:KEY],
            bytes.fromhex(md5)[:8],
            bytes.fromhex(sha1)[:8],
            bytes.fromhex(pdq) if pdq else None,
        )

    def pack(self) -> bytes:
        return self.sha256_prefix + self.md5_prefix + self.sha1_prefix + (self.pdq or _NO_PDQ)

    @classmethod
    def unpack(cls, record: bytes) -> CompactSignals:
        pdq = record[KEY + 16 : RECORD]
        return cls(
            record[:KEY],
            record[KEY : KEY + 8],
            record[KEY + 8 : KEY + 16],
            None if pdq == _NO_PDQ else pdq,
        )


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
        "lo": records[0][:KEY],
        "hi": records[-1][:KEY],
        "records": b"".join(records),
        "bloom": bloom_of((r[:KEY] for r in records), len(records)) if compacted else None,
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


def merge_seen(session: Session, before: datetime) -> int:
    """Merge the seen-URL rows written before `before` that are not full (one a host and write
    batch) into full rows per host and UTC day (`SEEN_PER_ROW` hashes each, the day's newest
    `seen_at`, so the same daily partition): a row's overhead (host, time, key, index entry)
    is paid once per 96 URLs rather than once per batch. Only the last `MERGE_SEEN_DAYS` days
    are read (a daily `db maintain` merges each day once it is written; a day's last partial
    row is not read again for ever). Returns how many rows were merged."""
    from collections import defaultdict

    rows = session.execute(
        sa.select(CrawlSeen.host, CrawlSeen.seen_at, CrawlSeen.id, CrawlSeen.url_hashes).where(
            CrawlSeen.n < SEEN_PER_ROW,
            CrawlSeen.seen_at < store_time(before),
            CrawlSeen.seen_at >= store_time(before) - timedelta(days=MERGE_SEEN_DAYS),
        )
    ).all()
    groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for row in rows:
        groups[(row.host, store_time(row.seen_at).date().isoformat())].append(row)
    merged = 0
    for (host, _), group in groups.items():
        if len(group) < 2:
            continue
        hashes = sorted(
            {
                r.url_hashes[i : i + URL_HASH]
                for r in group
                for i in range(0, len(r.url_hashes), URL_HASH)
            }
        )
        latest = max(store_time(r.seen_at) for r in group)
        session.execute(
            sa.delete(CrawlSeen).where(
                CrawlSeen.host == host, CrawlSeen.id.in_([r.id for r in group])
            )
        )
        session.execute(
            sa.insert(CrawlSeen),
            [
                {
                    "id": secrets.randbits(62),
                    "seen_at": latest,
                    "host": host,
                    "n": len(hashes[i : i + SEEN_PER_ROW]),
                    "url_hashes": b"".join(hashes[i : i + SEEN_PER_ROW]),
                }
                for i in range(0, len(hashes), SEEN_PER_ROW)
            ],
        )
        merged += len(group)
    return merged


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


def count_error_day(session: Session, counts: dict[str, int], at: datetime) -> None:
    """Add crawl failures per kind to today's counts (an upsert: crawler processes and media
    workers add to the same row)."""
    rows = [
        {"day": store_time(at).date().isoformat(), "kind": k[:64], "count": n}
        for k, n in sorted(counts.items())
        if n
    ]
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    stmt = insert(CrawlErrorDay)
    stmt = stmt.on_conflict_do_update(
        index_elements=["day", "kind"], set_={"count": CrawlErrorDay.count + stmt.excluded.count}
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


def seen_digests(session: Session, host: str, since: datetime) -> set[bytes]:
    """Every URL digest (`url_digest`) seen unmatched on `host` since `since`: a re-crawl reads
    a host's once per run and checks each media link it finds against them."""
    found: set[bytes] = set()
    blobs = session.scalars(
        sa.select(CrawlSeen.url_hashes).where(
            CrawlSeen.host == host, CrawlSeen.seen_at >= store_time(since)
        )
    )
    for blob in blobs:
        found.update(blob[i : i + URL_HASH] for i in range(0, len(blob), URL_HASH))
    return found


def iter_signals(session: Session) -> Iterator[CompactSignals]:
    """Every kept record (retroactive matching scans them when a list grows)."""
    for blob in session.scalars(sa.select(MediaSignalBlock.records)):
        for i in range(0, len(blob), RECORD):
            yield CompactSignals.unpack(blob[i : i + RECORD])


def find_sha256(session: Session, sha256: str) -> CompactSignals | None:
    """The record of one media by sha256: the blocks whose range holds it, each bisected."""
    key = bytes.fromhex(sha256)[:KEY]
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
        probe = blob[mid * RECORD : mid * RECORD + KEY]
        if probe < key:
            lo = mid + 1
        elif probe > key:
            hi = mid
        else:
            return blob[mid * RECORD : (mid + 1) * RECORD]
    return None


def bloom_of(keys: Iterable[bytes], n: int) -> bytes:
    """A Bloom filter of a block's sha256 prefixes: `BLOOM_BITS` bits a record, `BLOOM_K`
    positions a key taken from the key itself (its bytes are uniform already): about 0.8% false
    positives. Compaction reads a block's records only when the filter says a new key may be in
    it."""
    m = (max(64, n * BLOOM_BITS) + 7) // 8 * 8  # whole bytes: `may_hold` reads m back
    bits = bytearray(m // 8)
    for key in keys:
        for pos in _positions(key, m):
            bits[pos >> 3] |= 1 << (pos & 7)
    return bytes(bits)


def _positions(key: bytes, m: int) -> list[int]:
    """Double hashing (Kirsch-Mitzenmacher) from the key's two halves."""
    h1 = int.from_bytes(key[: KEY // 2], "big")
    h2 = int.from_bytes(key[KEY // 2 : KEY], "big") | 1
    return [(h1 + i * h2) % m for i in range(BLOOM_K)]


def may_hold(bloom: bytes | None, key: bytes) -> bool:
    if bloom is None:
        return True
    m = len(bloom) * 8
    return all(bloom[pos >> 3] >> (pos & 7) & 1 for pos in _positions(key, m))


@dataclass(frozen=True)
class Compaction:
    """What one `compact_signals` did: loose records read, new records kept, and how many
    compacted blocks it had to read the records of (the others' filters said no)."""

    read: int
    kept: int
    blocks_read: int


def compact_signals(session: Session, before: datetime) -> Compaction:
    """Merge the loose blocks (one a batch) written before `before` into sorted blocks of
    `BLOCK_RECORDS`, dropping media already kept in a compacted block.

    Incremental: it reads the compacted blocks' ranges and Bloom filters (`BLOOM_BITS` bits a
    record, 1/48 of the records' bytes), and the records only of the blocks that a new key falls
    in and whose filter says it may hold (a duplicate, or ~0.8% of the others): not every kept
    signal, as it did before. Compacted blocks are never rewritten (no write amplification,
    no dead tuples on PostgreSQL); each run adds its own sorted blocks."""
    cutoff = store_time(before)
    loose = session.execute(
        sa.select(MediaSignalBlock.id, MediaSignalBlock.records).where(
            MediaSignalBlock.compacted.is_(False), MediaSignalBlock.created_at < cutoff
        )
    ).all()
    if not loose:
        return Compaction(0, 0, 0)
    merged: dict[bytes, bytes] = {}
    for _, blob in loose:
        for i in range(0, len(blob), RECORD):
            merged.setdefault(blob[i : i + KEY], blob[i : i + RECORD])
    read = sum(len(blob) // RECORD for _, blob in loose)
    keys = sorted(merged)
    wanted: dict[int, list[bytes]] = {}
    blocks = session.execute(
        sa.select(
            MediaSignalBlock.id, MediaSignalBlock.lo, MediaSignalBlock.hi, MediaSignalBlock.bloom
        ).where(MediaSignalBlock.compacted.is_(True))
    )
    for block_id, lo, hi, bloom in blocks:
        start = bisect.bisect_left(keys, lo)
        maybe = [k for k in keys[start : bisect.bisect_right(keys, hi)] if may_hold(bloom, k)]
        if maybe:
            wanted[block_id] = maybe
    ids = list(wanted)
    for i in range(0, len(ids), 100):
        rows = session.execute(
            sa.select(MediaSignalBlock.id, MediaSignalBlock.records).where(
                MediaSignalBlock.id.in_(ids[i : i + 100])
            )
        )
        for block_id, blob in rows:
            for key in wanted[block_id]:
                if key in merged and _bisect(blob, key) is not None:
                    del merged[key]
    records = [merged[k] for k in sorted(merged)]
    session.execute(
        sa.delete(MediaSignalBlock).where(MediaSignalBlock.id.in_([row.id for row in loose]))
    )
    rows_out = [
        _block_row(records[i : i + BLOCK_RECORDS], cutoff, True)
        for i in range(0, len(records), BLOCK_RECORDS)
    ]
    if rows_out:
        session.execute(sa.insert(MediaSignalBlock), rows_out)
    return Compaction(read, len(records), len(ids))


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
