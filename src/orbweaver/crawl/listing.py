"""Read-side listings of what the crawl recorded (for the CLI and, later, the web)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from orbweaver.clock import ensure_utc
from orbweaver.store import Store
from orbweaver.store.models import Bank, BankEntry, Detection, Media, Sighting


def list_sightings(
    store: Store, *, limit: int = 100, host: str | None = None
) -> list[dict[str, Any]]:
    query = (
        sa.select(Sighting, Media.sha256, Media.pdq, Media.mime_type)
        .join(Media, Media.id == Sighting.media_id)
        .order_by(Sighting.id.desc())
        .limit(limit)
    )
    if host:
        query = query.where(Sighting.host == host.lower())
    with store.session() as session:
        rows = session.execute(query).all()
    return [
        {
            "id": s.id,
            "seen_at": ensure_utc(s.seen_at).isoformat(),
            "url": s.url,
            "page_url": s.page_url,
            "host": s.host,
            "network": s.network,
            "reached_from_tor": s.reached_from_tor,
            "archive_url": s.archive_url,
            "member_path": s.member_path,
            "sha256": sha256,
            "pdq": pdq,
            "mime_type": mime,
        }
        for s, sha256, pdq, mime in rows
    ]


def list_detections(store: Store, *, limit: int = 100) -> list[dict[str, Any]]:
    query = (
        sa.select(Detection, Sighting, Bank.name)
        .join(Sighting, Sighting.id == Detection.sighting_id)
        .join(BankEntry, BankEntry.id == Detection.bank_entry_id)
        .join(Bank, Bank.id == BankEntry.bank_id)
        .order_by(Detection.id.desc())
        .limit(limit)
    )
    with store.session() as session:
        rows = session.execute(query).all()
    return [
        {
            "id": d.id,
            "detected_at": ensure_utc(d.detected_at).isoformat(),
            "bank": bank,
            "category": d.category,
            "signal_type": d.signal_type,
            "distance": d.distance,
            "sighting_id": s.id,
            "url": s.url,
            "page_url": s.page_url,
            "network": s.network,
            "reached_from_tor": s.reached_from_tor,
            "archive_url": s.archive_url,
            "member_path": s.member_path,
        }
        for d, s, bank in rows
    ]
