"""The demo's review figures (report.json's "review"): what the queue noticed while it mattered.

They join the product's store (suspects, assessments, verdicts and their times) with the world's
ground truth (which pictures are actionable, when each placement was online), so they live in
the demo, which may read both; the product itself never reads the world's truth.

- `suspects`: media that became suspects; `assessed`: verdicts; `actionable`: actionable ones;
- `noticed_while_online`: actionable verdicts given while some placement of the item's pictures
  (the item and its grouped near-duplicates) was online in the world: a notice can still act;
- `removed_before_review`: suspects the world calls actionable that went offline everywhere
  before any verdict on them (or undecided and gone by the end);
- `median_hours_suspect_to_notice`: first seen to the verdict, over those noticed while online;
- `images_shown_per_actionable_verdict`: assessments (one image shown each) per actionable
  verdict: the analysts' exposure per useful outcome.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from orbweaver.categories import NOT_ACTIONABLE
from orbweaver.store import Store
from orbweaver.store.models import Assessment, Media, ReviewItem, Suspect, Verdict

REVIEW_KEYS = (
    "suspects",
    "assessed",
    "actionable",
    "noticed_while_online",
    "removed_before_review",
    "median_hours_suspect_to_notice",
    "images_shown_per_actionable_verdict",
)


@dataclass(frozen=True)
class Placement:
    """One placement of a picture in the world: online from `uploaded` until `ended` (None:
    still online at the end)."""

    uploaded: datetime
    ended: datetime | None

    def online(self, when: datetime) -> bool:
        return self.uploaded <= when and (self.ended is None or when < self.ended)


@dataclass(frozen=True)
class Truth:
    """What the world says about one picture: actionable or not, and where it was when."""

    actionable: bool
    placements: tuple[Placement, ...]

    def online(self, when: datetime) -> bool:
        return any(p.online(when) for p in self.placements)

    def gone_by(self, when: datetime) -> bool:
        return all(p.ended is not None and p.ended <= when for p in self.placements)


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def truth_from_world(images: list[Mapping[str, Any]]) -> dict[int, Truth]:
    """The world's truth rows (`truth(images=True)["images"]`) by picture id."""

    def parse(text: str) -> datetime:
        return _utc(datetime.fromisoformat(text.replace("Z", "+00:00")))

    return {
        int(row["id"]): Truth(
            row["label"] != "benign",
            tuple(
                Placement(
                    parse(p["uploaded_at"]), parse(p["removed_at"]) if p["removed_at"] else None
                )
                for p in row["placements"]
            ),
        )
        for row in images
    }


def review_figures(
    store: Store,
    picture_of: Callable[[str], int | None],
    truth: Mapping[int, Truth],
    end: datetime,
) -> dict[str, Any]:
    """report.json's "review" from the store and the world's truth (module docstring)."""
    end = _utc(end)
    with store.session() as s:
        media = dict(
            s.execute(
                sa.select(Media.id, Media.sha256).where(
                    Media.id.in_(sa.select(Suspect.media_id).distinct())
                )
            ).all()
        )
        items = s.execute(
            sa.select(
                ReviewItem.id, ReviewItem.media_id, ReviewItem.group_id, ReviewItem.first_seen_at
            )
        ).all()
        verdicts = s.execute(sa.select(Verdict.item_id, Verdict.category, Verdict.decided_at)).all()
        shown = s.scalar(sa.select(sa.func.count(Assessment.id))) or 0
    pictures = {m: picture_of(sha) for m, sha in media.items()}
    members: dict[int, list[int]] = defaultdict(list)  # lead item id -> media ids
    first_seen: dict[int, datetime] = {}
    lead_of_media: dict[int, int] = {}
    for item_id, media_id, group_id, seen in items:
        lead = group_id or item_id
        members[lead].append(media_id)
        lead_of_media[media_id] = lead
        if group_id is None:
            first_seen[item_id] = _utc(seen)
    decided: dict[int, datetime] = {}
    actionable = noticed = 0
    hours: list[float] = []
    for item_id, category, at in verdicts:
        at = _utc(at)
        decided[item_id] = at
        if category == NOT_ACTIONABLE:
            continue
        actionable += 1
        found = [pictures.get(m) for m in members.get(item_id, [])]
        facts = [truth[p] for p in found if p is not None and p in truth]
        if any(f.online(at) for f in facts):
            noticed += 1
            if item_id in first_seen:
                hours.append((at - first_seen[item_id]) / timedelta(hours=1))
    gone = 0
    for media_id, picture in pictures.items():
        fact = truth.get(picture) if picture is not None else None
        if fact is None or not fact.actionable:
            continue
        verdict_at = decided.get(lead_of_media.get(media_id, -1))
        if verdict_at is None:
            gone += fact.gone_by(end)
        elif not fact.online(verdict_at):
            gone += 1
    return {
        "suspects": len(media),
        "assessed": len(verdicts),
        "actionable": actionable,
        "noticed_while_online": noticed,
        "removed_before_review": gone,
        "median_hours_suspect_to_notice": round(statistics.median(hours), 1) if hours else None,
        "images_shown_per_actionable_verdict": round(shown / actionable, 2) if actionable else None,
        "assessments": shown,
        "actionable_suspects": sum(
            1 for p in pictures.values() if p is not None and p in truth and truth[p].actionable
        ),
    }


def backlog_series(store: Store, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Open items at the end of each day: first seen by then, not yet decided."""
    with store.session() as s:
        rows = s.execute(
            sa.select(ReviewItem.first_seen_at, ReviewItem.decided_at).where(
                ReviewItem.group_id.is_(None)
            )
        ).all()
    start, end = _utc(start), _utc(end)
    out = []
    day = 1
    while start + timedelta(days=day - 1) < end:
        when = start + timedelta(days=day)
        waiting = sum(
            1
            for seen, decided_at in rows
            if _utc(seen) <= when and (decided_at is None or _utc(decided_at) > when)
        )
        out.append({"day": day, "open": waiting})
        day += 1
    return out
