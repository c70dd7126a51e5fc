"""Retention: evidence records are deleted (their WARC bytes; hash and size stay) once older
than their kind's period, unless a hold covers their case; provider contacts in old messages
are anonymised. Figures are kept: notices, detections and counts are not touched.

A hold (`Hold`, legal or not) covers the evidence of every sighting of the URL or host it
names, and of every detection of the notice (case) it names, for as long as it is active.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from orbweaver.clock import Clock
from orbweaver.evidence.settings import EvidenceSettings
from orbweaver.store import EventKind, record_event, store_now
from orbweaver.store.models import (
    Detection,
    EvidenceRecord,
    Hold,
    NoticeItem,
    Outbox,
    Sighting,
)

ANONYMISED = "anonymised"


@dataclass
class PruneStats:
    pruned: int = 0
    pruned_bytes: int = 0
    kept_on_hold: int = 0
    contacts_anonymised: int = 0


def held_sightings(session: Session) -> set[int]:
    """Sightings whose evidence an active hold preserves."""
    out: set[int] = set()
    for hold in session.scalars(select(Hold).where(Hold.released_at.is_(None))):
        if hold.scope == "url":
            cond = or_(Sighting.url == hold.value, Sighting.archive_url == hold.value)
            out.update(session.scalars(select(Sighting.id).where(cond)))
        elif hold.scope == "host":
            out.update(session.scalars(select(Sighting.id).where(Sighting.host == hold.value)))
        else:
            out.update(
                session.scalars(
                    select(Detection.sighting_id)
                    .join(NoticeItem, NoticeItem.detection_id == Detection.id)
                    .where(NoticeItem.notice_id == int(hold.value))
                )
            )
    return out


def prune(session: Session, clock: Clock, settings: EvidenceSettings, *, actor: str) -> PruneStats:
    """Delete what retention allows, audited (`evidence.pruned`)."""
    now = store_now(clock)
    stats = PruneStats()
    held = held_sightings(session)
    periods = {
        "page": settings.evidence_retention_days_page,
        "media": settings.evidence_retention_days_media,
    }
    for kind, days in periods.items():
        due = session.scalars(
            select(EvidenceRecord).where(
                EvidenceRecord.kind == kind,
                EvidenceRecord.warc.is_not(None),
                EvidenceRecord.captured_at < now - timedelta(days=days),
            )
        )
        for row in due:
            if row.sighting_id in held:
                stats.kept_on_hold += 1
                continue
            row.warc = None
            row.pruned_at = now
            stats.pruned += 1
            stats.pruned_bytes += row.size_bytes
    stats.contacts_anonymised = _anonymise_contacts(session, now, settings)
    record_event(
        session,
        clock,
        EventKind.EVIDENCE_PRUNED,
        actor=actor,
        payload={
            "pruned": stats.pruned,
            "pruned_bytes": stats.pruned_bytes,
            "kept_on_hold": stats.kept_on_hold,
            "contacts_anonymised": stats.contacts_anonymised,
        },
    )
    return stats


def _anonymise_contacts(session: Session, now: datetime, settings: EvidenceSettings) -> int:
    """Recipients and letters of messages older than `contact_retention_days` that are done
    with (sent, failed or dropped): the abuse desk's address may be a person's."""
    cutoff = now - timedelta(days=settings.contact_retention_days)
    res = session.execute(
        update(Outbox)
        .where(
            Outbox.created_at < cutoff,
            Outbox.status.in_(("sent", "failed", "dropped")),
            Outbox.recipient != ANONYMISED,
        )
        .values(recipient=ANONYMISED, body="", last_error=None)
    )
    return int(res.rowcount or 0)  # type: ignore[attr-defined]
