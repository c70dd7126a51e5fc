"""Planning: from detections to notices, their items, and each new notice's first round.

Detections no notice covers yet are grouped by the URL a notice names (the archive for members
of an archive, else the media URL), attributed to the provider best able to act, and become one
notice per (URL, provider), or items of that URL's open notice. Content back after a confirmed
removal is a new generation of the notice. Onion-hosted content has nobody to notify: it is kept
as a `tor_only` notice so it is counted. Each new notice is checked for recidivism (the
monitor's rule, `orbweaver.monitor.RecidivismCheck`) and its first round composed into the
outbox (`rounds.enqueue_round`).

Everything here only writes rows (notices, items, outbox, events); sending is the outbox's job,
so planning can be repeated or crash half-way without a message going out twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from orbweaver.attribution import Attribution, ChainLink
from orbweaver.banks import explain_entries
from orbweaver.categories import ACTIONABLE, most_severe
from orbweaver.clock import Clock
from orbweaver.monitor import RecidivismCheck
from orbweaver.notices.outbox import outbox_key, report_id_for
from orbweaver.notices.rounds import enqueue_round
from orbweaver.notices.settings import NoticeSettings
from orbweaver.store import EventKind, record_event, store_now
from orbweaver.store.models import (
    Bank,
    BankEntry,
    Detection,
    Media,
    Notice,
    NoticeItem,
    Sighting,
)


class Attributor(Protocol):
    def attribute(self, session: Session, host: str, network: str) -> Attribution: ...


@dataclass
class PlanStats:
    notices: int = 0
    items: int = 0
    tor_only: int = 0
    recidivist: int = 0
    unattributed: int = 0
    enqueued: int = 0
    errors: list[str] = field(default_factory=list)


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


@dataclass
class _Group:
    url: str
    kind: str
    network: str
    rows: list[tuple[Detection, Sighting]] = field(default_factory=list)


def _pending_groups(session: Session, limit: int) -> list[_Group]:
    """Detections no notice covers yet, grouped by the URL a notice would name."""
    rows = session.execute(
        select(Detection, Sighting)
        .join(Sighting, Sighting.id == Detection.sighting_id)
        .outerjoin(NoticeItem, NoticeItem.detection_id == Detection.id)
        .where(
            NoticeItem.id.is_(None),
            Detection.category.in_(ACTIONABLE),
            Detection.held.is_(False),  # a quarantined entry's: no notice until released
        )
        .order_by(Detection.id)
        .limit(limit)
    ).all()
    groups: dict[str, _Group] = {}
    for det, sig in rows:
        url = sig.archive_url or sig.url
        kind = "archive" if sig.archive_url else "media"
        network = "tor" if (sig.network == "tor" or _host(url).endswith(".onion")) else "clear"
        groups.setdefault(url, _Group(url, kind, network)).rows.append((det, sig))
    return list(groups.values())


def plan_notices(
    session: Session,
    clock: Clock,
    attributor: Attributor,
    settings: NoticeSettings,
    *,
    limit: int = 5000,
) -> PlanStats:
    """Turn uncovered detections into notices (or into items of an open notice) and enqueue
    each new notice's first round."""
    stats = PlanStats()
    recidivism = RecidivismCheck()
    groups = _pending_groups(session, limit)
    facts = _load_facts(session, groups)
    for group in groups:
        if group.network == "tor":
            _record_tor_only(session, clock, group, stats)
            continue
        attribution = attributor.attribute(session, _host(group.url), group.network)
        if attribution.recipient_id is None:
            stats.unattributed += 1
            stats.errors.append(f"{group.url}: {attribution.error or 'no provider found'}")
            continue
        notice, created = _notice_for(session, clock, group, attribution, stats, facts.latest)
        items = _add_items(session, notice, group, stats)
        if created:
            notice.category = most_severe([it.category for it in items])
            mine = [
                (
                    facts.media[sig.media_id].sha256,
                    facts.media[sig.media_id].pdq,
                    det.bank_entry_id,
                    *facts.entries[det.bank_entry_id],
                )
                for det, sig in group.rows
            ]
            if recidivism.flag(session, clock, notice, mine) is not None:
                stats.recidivist += 1
            record_event(
                session,
                clock,
                EventKind.NOTICE_CREATED,
                subject_type="notice",
                subject_id=notice.id,
                payload={
                    "url": notice.url,
                    "provider_id": notice.provider_id,
                    "recidivist": notice.recidivist,
                    "generation": notice.generation,
                },
            )
            rows = [
                (item, facts.media[sig.media_id], det, sig)
                for item, (det, sig) in zip(items, group.rows, strict=True)
            ]
            if enqueue_round(session, clock, settings, notice, kind="notice", round_=1, rows=rows):
                stats.enqueued += 1
    return stats


@dataclass
class _Facts:
    """What planning a batch needs about its detections, loaded in a few queries up front."""

    media: dict[int, Media]
    entries: dict[int, tuple[int, str, str]]  # bank entry -> (PDQ threshold, signal type, signal)
    latest: dict[tuple[str, int | None], Notice]  # (url, provider id) -> newest generation


def _chunks(values: set[Any], n: int = 900) -> list[list[Any]]:
    ordered = sorted(values)
    return [ordered[i : i + n] for i in range(0, len(ordered), n)]


def _load_facts(session: Session, groups: list[_Group]) -> _Facts:
    media_ids = {sig.media_id for g in groups for _, sig in g.rows}
    entry_ids = {det.bank_entry_id for g in groups for det, _ in g.rows}
    facts = _Facts({}, {}, {})
    for chunk in _chunks(media_ids):
        facts.media.update(
            (m.id, m) for m in session.scalars(select(Media).where(Media.id.in_(chunk)))
        )
    for chunk in _chunks(entry_ids):
        for entry_id, threshold, kind, signal in session.execute(
            select(BankEntry.id, Bank.pdq_threshold, BankEntry.signal_type, BankEntry.signal)
            .join(Bank, Bank.id == BankEntry.bank_id)
            .where(BankEntry.id.in_(chunk))
        ):
            facts.entries[entry_id] = (threshold, kind, signal)
    for chunk in _chunks({g.url for g in groups}):
        for n in session.scalars(
            select(Notice).where(Notice.url.in_(chunk)).order_by(Notice.generation)
        ):
            facts.latest[(n.url, n.provider_id)] = n  # ordered: the newest generation wins
    return facts


def _record_tor_only(session: Session, clock: Clock, group: _Group, stats: PlanStats) -> None:
    """Onion-hosted content: nobody to notify. Kept as a notice row so it is counted."""
    notice = session.scalar(
        select(Notice).where(Notice.url == group.url, Notice.status == "tor_only")
    )
    if notice is None:
        notice = _new_notice(session, clock, group, None, [], 0)
        notice.status = "tor_only"
        stats.tor_only += 1
        record_event(
            session,
            clock,
            EventKind.NOTICE_TOR_ONLY,
            subject_type="notice",
            subject_id=notice.id,
            payload={"url": group.url},
        )
    _add_items(session, notice, group, stats)
    notice.category = _worst(notice)


def _new_notice(
    session: Session,
    clock: Clock,
    group: _Group,
    provider_id: int | None,
    chain: list[ChainLink],
    generation: int,
) -> Notice:
    key = outbox_key(group.url, provider_id or 0, generation, "notice", 1)
    notice = Notice(
        url=group.url,
        kind=group.kind,
        host=_host(group.url),
        network=group.network,
        provider_id=provider_id,
        generation=generation,
        report_id=report_id_for(key),
        category=group.rows[0][0].category,
        chain=[link.as_dict() for link in chain],
        status="open",
        created_at=store_now(clock),
    )
    session.add(notice)
    session.flush()
    return notice


def _notice_for(
    session: Session,
    clock: Clock,
    group: _Group,
    att: Attribution,
    stats: PlanStats,
    latest_of: dict[tuple[str, int | None], Notice] | None = None,
) -> tuple[Notice, bool]:
    """The open notice for this URL and provider, or a new one (a new generation when the
    content came back after a confirmed removal)."""
    if latest_of is not None:
        latest = latest_of.get((group.url, att.recipient_id))
    else:
        latest = session.scalar(
            select(Notice)
            .where(Notice.url == group.url, Notice.provider_id == att.recipient_id)
            .order_by(Notice.generation.desc())
            .limit(1)
        )
    newest_seen = max(sig.seen_at for _, sig in group.rows)
    if latest is not None and (
        latest.status == "open"
        or latest.offline_confirmed_at is None
        or newest_seen <= latest.offline_confirmed_at
    ):
        return latest, False
    generation = 0 if latest is None else latest.generation + 1
    notice = _new_notice(session, clock, group, att.recipient_id, att.chain, generation)
    if latest_of is not None:
        latest_of[(group.url, att.recipient_id)] = notice
    stats.notices += 1
    return notice, True


def _add_items(
    session: Session, notice: Notice, group: _Group, stats: PlanStats
) -> list[NoticeItem]:
    known = explain_entries(session, [det.bank_entry_id for det, _ in group.rows])
    items = [
        NoticeItem(
            notice_id=notice.id,
            detection_id=det.id,
            media_id=sig.media_id,
            member_path=sig.member_path,
            category=det.category,
            explanation={
                **known.get(det.bank_entry_id, {}),
                "entry_id": det.bank_entry_id,
                "signal_type": det.signal_type,
                "distance": det.distance,
            },
        )
        for det, sig in group.rows
    ]
    session.add_all(items)
    stats.items += len(items)
    session.flush()
    return items


def _worst(notice: Notice) -> str:
    return most_severe([it.category for it in notice.items])
