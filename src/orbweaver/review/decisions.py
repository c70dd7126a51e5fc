"""Assessments, consensus, adjudication, and what a verdict does to banks, sightings and bytes.

A verdict of CSAM or harmful-abusive puts the media's sha256 and PDQ in the hotline's own bank
and turns every sighting of it into a detection (which notices then pick up); not_actionable
puts the hashes on the allow-list. Either way the sealed bytes are deleted: nothing is kept
longer than the decision needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from orbweaver.banks import EntryRow, add_entries
from orbweaver.categories import (
    CATEGORIES,
    CSAM,
    CSAM_POSTPUBESCENT,
    CSAM_PREPUBESCENT,
    NOT_ACTIONABLE,
)
from orbweaver.clock import Clock
from orbweaver.review.accounts import Principal
from orbweaver.review.audit import audit
from orbweaver.review.errors import Forbidden, NotFound, ReviewError
from orbweaver.review.priority import AWAITING_CONSENSUS
from orbweaver.store import EventKind, record_event
from orbweaver.store.models import (
    SEVERITIES,
    AllowListEntry,
    Assessment,
    BankEntry,
    Detection,
    Media,
    ReviewItem,
    Sighting,
    Suspect,
    Verdict,
)

_XARF = {
    (CSAM_PREPUBESCENT, "sex_act"): "A1",
    (CSAM_PREPUBESCENT, "lascivious_exhibition"): "A2",
    (CSAM_POSTPUBESCENT, "sex_act"): "B1",
    (CSAM_POSTPUBESCENT, "lascivious_exhibition"): "B2",
}


def xarf_class(category: str, severity: str | None) -> str | None:
    """X-ARF `content/csam` class (A1/A2/B1/B2) when category and severity allow one."""
    return _XARF.get((category, severity or ""))


@dataclass(frozen=True)
class Outcome:
    """What an assessment led to: still open, disputed, or decided."""

    item_id: int
    status: str
    verdict: str | None = None
    detections: int = 0


def check_choice(category: str, severity: str | None) -> str | None:
    if category not in CATEGORIES:
        raise ReviewError(f"unknown category {category!r} (one of {', '.join(CATEGORIES)})")
    if severity in ("", None):
        return None
    if severity not in SEVERITIES:
        raise ReviewError(f"unknown severity {severity!r} (one of {', '.join(SEVERITIES)})")
    if category not in CSAM:
        raise ReviewError("a severity applies only to the two CSAM categories")
    return severity


def _locked_item(s: Session, item_id: int) -> ReviewItem:
    item = s.get(ReviewItem, item_id, with_for_update=True)
    if item is None:
        raise NotFound(f"no review item {item_id}")
    return item


def assess(
    s: Session,
    clock: Clock,
    who: Principal,
    item_id: int,
    category: str,
    severity: str | None,
    *,
    consensus: int,
    bank_id: int,
) -> Outcome:
    """Record one analyst's assessment; decide on N agreeing, escalate on any disagreement."""
    severity = check_choice(category, severity)
    item = _locked_item(s, item_id)
    if item.status != "open":
        raise ReviewError(f"item {item_id} is {item.status}, not open for assessment")
    if s.scalar(_assessed_by(item.id, who.id)):
        raise Forbidden("you have already assessed this item")
    s.add(
        Assessment(
            item_id=item.id,
            user_id=who.id,
            category=category,
            severity=severity,
            created_at=clock.now(),
        )
    )
    item.assessments += 1
    if item.priority < AWAITING_CONSENSUS:  # the second assessment comes before fresh items
        item.priority += AWAITING_CONSENSUS
    if item.claimed_by == who.id:  # done with it: the next analyst may have it at once
        item.claimed_by = item.claimed_until = None
    audit(
        s,
        clock,
        who,
        "assessment",
        subject_type="review_item",
        subject_id=item.id,
        detail={"category": category, "severity": severity},
    )
    rows = s.execute(
        sa.select(Assessment.category, Assessment.severity).where(Assessment.item_id == item.id)
    ).all()
    categories = {row[0] for row in rows}
    if len(categories) > 1:
        item.status = "adjudication"
        audit(
            s,
            clock,
            "system",
            "item.disputed",
            subject_type="review_item",
            subject_id=item.id,
            detail={"categories": sorted(categories)},
        )
        return Outcome(item.id, item.status)
    if len(rows) >= consensus:
        merged = merge_severity([row[1] for row in rows])
        return decide(s, clock, item, category, merged, via="consensus", who=who, bank_id=bank_id)
    return Outcome(item.id, item.status)


def adjudicate(
    s: Session,
    clock: Clock,
    who: Principal,
    item_id: int,
    category: str,
    severity: str | None,
    *,
    bank_id: int,
) -> Outcome:
    """A senior analyst settles a disputed item; not one whose dispute they took part in."""
    if not who.has("senior_analyst"):
        raise Forbidden("adjudication needs a senior analyst")
    severity = check_choice(category, severity)
    item = _locked_item(s, item_id)
    if item.status != "adjudication":
        raise ReviewError(f"item {item_id} is {item.status}, not awaiting adjudication")
    if s.scalar(_assessed_by(item.id, who.id)):
        raise Forbidden("you assessed this item; another senior analyst must adjudicate it")
    return decide(s, clock, item, category, severity, via="adjudication", who=who, bank_id=bank_id)


def split_from_group(s: Session, clock: Clock, who: Principal, member_id: int) -> ReviewItem:
    """An analyst says a grouped near-duplicate is not the same picture: it leaves the group
    and waits as an item of its own, so the group's verdict will not settle it. Without this,
    one verdict on the lead settles every member (each member's image is never shown: the item
    page lists near-duplicates by hash), which is what makes a group cost one review."""
    if not who.has("analyst"):
        raise Forbidden("splitting a group needs an analyst")
    member = _locked_item(s, member_id)
    if member.status != "grouped" or member.group_id is None:
        raise ReviewError(f"item {member_id} is {member.status}, not a grouped near-duplicate")
    lead = _locked_item(s, member.group_id)
    if lead.status not in ("open", "adjudication"):
        raise ReviewError(f"its group's item {lead.id} is {lead.status}: too late to split")
    detail = {"from_item": lead.id, "distance": member.group_distance}
    member.status, member.group_id, member.group_distance = "open", None, None
    member.updated_at = clock.now()
    audit(
        s, clock, who, "item.split", subject_type="review_item", subject_id=member.id, detail=detail
    )
    return member


def _assessed_by(item_id: int, user_id: int) -> sa.Select[int]:
    return sa.select(Assessment.id).where(
        Assessment.item_id == item_id, Assessment.user_id == user_id
    )


def merge_severity(severities: list[str | None]) -> str | None:
    """Agreeing analysts may differ on severity; the verdict keeps the graver one."""
    for severity in SEVERITIES:
        if severity in severities:
            return severity
    return None


def decide(
    s: Session,
    clock: Clock,
    item: ReviewItem,
    category: str,
    severity: str | None,
    *,
    via: str,
    who: Principal,
    bank_id: int,
) -> Outcome:
    """Write the verdict and carry it out for the item and its grouped near-duplicates."""
    now = clock.now()
    decided_by = who.username if via == "adjudication" else "consensus"
    s.add(
        Verdict(
            item_id=item.id,
            category=category,
            severity=severity,
            via=via,
            decided_by=decided_by,
            decided_at=now,
        )
    )
    members = list(s.scalars(sa.select(ReviewItem).where(ReviewItem.group_id == item.id)))
    for row in (item, *members):
        row.status, row.decided_at, row.updated_at = "decided", now, now
    media_ids = [item.media_id, *(m.media_id for m in members)]
    detections = 0
    if category == NOT_ACTIONABLE:
        allow(s, clock, media_ids, item.id)
    else:
        detections = confirm(s, clock, who, bank_id, media_ids, category, item.id)
    detail = {
        "category": category,
        "severity": severity,
        "via": via,
        "xarf": xarf_class(category, severity),
        "media": len(media_ids),
        "detections": detections,
    }
    audit(s, clock, who, "verdict", subject_type="review_item", subject_id=item.id, detail=detail)
    record_event(
        s,
        clock,
        EventKind.REVIEW_VERDICT,
        subject_type="review_item",
        subject_id=item.id,
        actor=decided_by,
        payload=detail,
    )
    return Outcome(item.id, "decided", category, detections)


def confirm(
    s: Session,
    clock: Clock,
    who: Principal,
    bank_id: int,
    media_ids: list[int],
    category: str,
    item_id: int,
) -> int:
    """Bank the hashes, turn every sighting into a detection, delete the bytes."""
    media = list(s.scalars(sa.select(Media).where(Media.id.in_(media_ids))))
    source = f"review:item:{item_id}"
    rows = [EntryRow("sha256", m.sha256, category, source) for m in media]
    rows += [EntryRow("pdq", m.pdq, category, source) for m in media if m.pdq]
    added, _ = add_entries(s, bank_id, rows, clock)
    detail = {
        "bank_id": bank_id,
        "added": added,
        "category": category,
        "item_id": item_id,
        "sha256": [m.sha256 for m in media],
    }
    audit(
        s, clock, who, "bank.entries_added", subject_type="bank", subject_id=bank_id, detail=detail
    )
    record_event(
        s,
        clock,
        EventKind.BANK_ENTRIES_ADDED,
        subject_type="bank",
        subject_id=bank_id,
        actor=who.username,
        payload=detail,
    )
    made = 0
    for m in media:
        entry_id = _sha256_entry(s, bank_id, m.sha256)
        made += detect_sightings(s, clock, m.id, entry_id, category)
    _clear_bytes(s, media_ids, "confirmed")
    return made


def _sha256_entry(s: Session, bank_id: int, sha256: str) -> int:
    return s.scalars(
        sa.select(BankEntry.id).where(
            BankEntry.bank_id == bank_id,
            BankEntry.signal_type == "sha256",
            BankEntry.signal == sha256,
        )
    ).one()


def detect_sightings(
    s: Session,
    clock: Clock,
    media_id: int,
    entry_id: int,
    category: str,
    sighting_ids: list[int] | None = None,
) -> int:
    """A detection for each sighting of the media (or the given ones) that lacks one."""
    already = sa.select(Detection.sighting_id).where(Detection.bank_entry_id == entry_id)
    query = sa.select(Sighting.id).where(Sighting.media_id == media_id, Sighting.id.not_in(already))
    if sighting_ids is not None:
        query = query.where(Sighting.id.in_(sighting_ids))
    now = clock.now()
    rows = [
        {
            "sighting_id": sid,
            "bank_entry_id": entry_id,
            "signal_type": "sha256",
            "distance": 0,
            "category": category,
            "detected_at": now,
        }
        for sid in s.scalars(query)
    ]
    if rows:
        s.execute(sa.insert(Detection), rows)
    return len(rows)


def allow(s: Session, clock: Clock, media_ids: list[int], item_id: int) -> None:
    """Put the hashes on the allow-list and delete the bytes."""
    now = clock.now()
    for m in s.scalars(sa.select(Media).where(Media.id.in_(media_ids))):
        keys = [("sha256", m.sha256)] + ([("pdq", m.pdq)] if m.pdq else [])
        for signal_type, signal in keys:
            exists = s.scalar(
                sa.select(AllowListEntry.id).where(
                    AllowListEntry.signal_type == signal_type, AllowListEntry.signal == signal
                )
            )
            if exists is None:
                s.add(
                    AllowListEntry(
                        signal_type=signal_type, signal=signal, item_id=item_id, added_at=now
                    )
                )
    _clear_bytes(s, media_ids, "dismissed")


def _clear_bytes(s: Session, media_ids: list[int], status: str) -> None:
    s.execute(
        sa.update(Suspect)
        .where(Suspect.media_id.in_(media_ids))
        .values(ciphertext=None, status=status)
    )


def dismiss_suspects(s: Session, suspect_ids: list[int]) -> None:
    s.execute(
        sa.update(Suspect)
        .where(Suspect.id.in_(suspect_ids))
        .values(ciphertext=None, status="dismissed")
    )


def apply_existing_verdict(
    s: Session, clock: Clock, item: ReviewItem, suspect_ids: list[int]
) -> None:
    """New sightings of an already-decided media: same outcome, no second review."""
    verdict = s.scalar(sa.select(Verdict).where(Verdict.item_id == (item.group_id or item.id)))
    if verdict is None or verdict.category == NOT_ACTIONABLE:
        dismiss_suspects(s, suspect_ids)
        return
    media = s.get_one(Media, item.media_id)
    entry_id = s.scalars(
        sa.select(BankEntry.id)
        .where(BankEntry.signal_type == "sha256", BankEntry.signal == media.sha256)
        .order_by(BankEntry.id)
        .limit(1)
    ).first()
    if entry_id is not None:
        sightings = list(
            s.scalars(sa.select(Suspect.sighting_id).where(Suspect.id.in_(suspect_ids)))
        )
        detect_sightings(s, clock, media.id, entry_id, verdict.category, sightings)
    s.execute(
        sa.update(Suspect)
        .where(Suspect.id.in_(suspect_ids))
        .values(ciphertext=None, status="confirmed")
    )
