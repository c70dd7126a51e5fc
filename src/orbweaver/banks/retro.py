"""Retroactive matching (issue 17): when entries arrive (an import, an exchange fetch, a verdict),
the signals of media already seen are matched against the new entries only.

Two kinds of stored media (docs/scaling.md):

- media kept in full (`media` rows: detections and suspects): a match becomes a detection of
  each of its sightings (held when the entry is quarantined, and subject to the flood check),
  which notice planning picks up like any other (its re-check before the first notice asks
  whether the URL is still online);
- compact records (`media_signal_block`, `compact.RECORD` bytes: prefixes of the crypto hashes
  and the PDQ): they have no sighting or URL, so a match is a *lead* (the kept SHA-256 prefix
  and the entry), counted in the event and returned for a re-fetch, never a detection.

The new entries are indexed on their own (`Matcher(after_entry=...)`, every rule of the
matcher applied), so the cost grows with the stored media, not with the size of the banks.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np
import sqlalchemy as sa

from orbweaver.clock import Clock
from orbweaver.store import CompactSignals, EventKind, Store, record_event, store_time
from orbweaver.store.models import BankEntry, Detection, Media, MediaSignalBlock, Sighting

from .matcher import Match, Matcher
from .quality import check_floods

_MEDIA_CHUNK = 5_000
KEY = CompactSignals.KEY_BYTES
RECORD = CompactSignals.RECORD_BYTES
_SCAN_BATCH = 1 << 20


@dataclass
class RetroReport:
    entries: int = 0
    """New entries indexed."""
    media: int = 0
    """Media kept in full that matched."""
    detections: int = 0
    leads: list[tuple[str, int]] = field(default_factory=list)
    """Compact records that matched: (SHA-256 prefix, hex, 32 digits; entry id)."""


def match_new_entries(
    store: Store,
    clock: Clock,
    *,
    after_entry: int,
    quality_min: int | None = None,
    actor: str = "system",
    exclude_media: Collection[int] = (),
) -> RetroReport:
    """Match every stored media against the bank entries with an id above `after_entry`
    (callers note `max(bank_entry.id)` before adding: `ImportReport.after_entry`).
    `exclude_media`: media the caller has detected already (a verdict's own pictures)."""
    report = RetroReport()
    matcher = Matcher(store, quality_min=quality_min, after_entry=after_entry)
    matcher.refresh()
    report.entries = matcher.size
    if not matcher.size:
        return report
    matcher.load_negative_entries()
    matched = _full_media(store, matcher)
    for media_id in exclude_media:
        matched.pop(media_id, None)
    report.media = len(matched)
    report.leads = _compact_leads(store, matcher, after_entry)
    with store.session() as session:
        report.detections = _detect(session, clock, matched)
        record_event(
            session,
            clock,
            EventKind.BANK_RETRO_MATCHED,
            actor=actor,
            payload={
                "entries": report.entries,
                "media": report.media,
                "detections": report.detections,
                "leads": len(report.leads),
            },
        )
    return report


def _full_media(store: Store, matcher: Matcher) -> dict[int, list[Match]]:
    """Media kept in full that match a new entry, by media id."""
    out: dict[int, list[Match]] = {}
    start = 0
    while True:
        with store.session() as session:
            rows = session.execute(
                sa.select(
                    Media.id, Media.sha256, Media.sha1, Media.md5, Media.pdq, Media.pdq_quality
                )
                .where(Media.id > start)
                .order_by(Media.id)
                .limit(_MEDIA_CHUNK)
            ).all()
        if not rows:
            return out
        for row in rows:
            found = matcher.match(row).matches
            if found:
                out[int(row.id)] = found
        start = int(rows[-1].id)


def _detect(session: sa.orm.Session, clock: Clock, matched: dict[int, list[Match]]) -> int:
    """Detections for every sighting of the matched media (a pair already detected is left)."""
    if not matched:
        return 0
    sightings = session.execute(
        sa.select(Sighting.id, Sighting.media_id).where(Sighting.media_id.in_(list(matched)))
    ).all()
    sighting_ids = [s for s, _ in sightings]
    existing = set(
        session.execute(
            sa.select(Detection.sighting_id, Detection.bank_entry_id).where(
                Detection.sighting_id.in_(sighting_ids)
            )
        ).all()
    )
    naive = store_time(clock.now())
    rows: list[dict[str, object]] = [
        {
            "sighting_id": sighting_id,
            "bank_entry_id": m.entry_id,
            "signal_type": m.signal_type,
            "distance": m.distance,
            "category": m.category,
            "detected_at": naive,
            "held": m.held,
        }
        for sighting_id, media_id in sightings
        for m in matched[media_id]
        if (sighting_id, m.entry_id) not in existing
    ]
    if rows:
        session.execute(sa.insert(Detection), rows)
        check_floods(session, clock, {m.entry_id for ms in matched.values() for m in ms})
    return len(rows)


def _compact_leads(store: Store, matcher: Matcher, after_entry: int) -> list[tuple[str, int]]:
    """Compact records matching a new entry: exact on the kept hash prefixes, near on PDQ."""
    prefixes = _exact_prefixes(store, matcher, after_entry)
    leads: list[tuple[str, int]] = []
    with store.session() as session:
        blobs = session.scalars(sa.select(MediaSignalBlock.records).execution_options(yield_per=64))
        pending: list[np.ndarray] = []
        size = 0
        for blob in blobs:
            pending.append(np.frombuffer(blob, dtype=np.uint8).reshape(-1, RECORD))
            size += len(pending[-1])
            if size >= _SCAN_BATCH:  # a few big joins (64 MiB of records) rather than one per block
                leads.extend(compact_block_leads(np.concatenate(pending), matcher, prefixes))
                pending, size = [], 0
        if pending:
            leads.extend(compact_block_leads(np.concatenate(pending), matcher, prefixes))
    return leads


Prefixes = dict[str, dict[bytes, int]]
"""Per crypto type kept in compact records: hash prefix (as kept) -> entry id."""

# The record layout is the store's (store/compact.py): sha256[:KEY] | md5[:8] | sha1[:8] | pdq.
_KEPT = {"sha256": (0, KEY), "md5": (KEY, KEY + 8), "sha1": (KEY + 8, KEY + 16)}
_PDQ_AT = KEY + 16


def _exact_prefixes(store: Store, matcher: Matcher, after_entry: int) -> Prefixes:
    """The new exact entries that compact records can be compared with, by their kept prefix;
    only those the matcher would report (enabled positive bank, entry not switched off)."""
    out: Prefixes = {name: {} for name in _KEPT}
    with store.session() as session:
        rows = session.execute(
            sa.select(BankEntry.id, BankEntry.signal_type, BankEntry.signal).where(
                BankEntry.id > after_entry, BankEntry.signal_type.in_(list(_KEPT))
            )
        ).all()
    for entry_id, signal_type, signal in rows:
        lo, hi = _KEPT[signal_type]
        if matcher.match_exact(signal_type, signal):
            try:
                out[signal_type][bytes.fromhex(signal)[: hi - lo]] = int(entry_id)
            except ValueError:
                continue
    return out


def compact_block_leads(
    records: np.ndarray, matcher: Matcher, prefixes: Prefixes
) -> list[tuple[str, int]]:
    """The leads in one block of `(n, RECORD)` compact records."""
    leads: list[tuple[str, int]] = []
    for name, wanted in prefixes.items():
        if not wanted:
            continue
        lo, hi = _KEPT[name]
        keys = np.ascontiguousarray(records[:, lo:hi]).view(f"S{hi - lo}").ravel()
        hits = np.flatnonzero(np.isin(keys, np.array(list(wanted), dtype=f"S{hi - lo}")))
        for row in hits.tolist():
            key = records[row, lo:hi].tobytes()
            leads.append((records[row, :KEY].tobytes().hex(), wanted[key]))
    pdq = records[:, _PDQ_AT:]
    present = np.flatnonzero(pdq.any(axis=1))
    if len(present):
        qi, ids, _ = matcher.match_pdq_arrays(pdq[present])
        rows = present[qi]
        leads.extend(
            (records[r, :KEY].tobytes().hex(), int(e))
            for r, e in zip(rows.tolist(), ids.tolist(), strict=True)
        )
    return leads
