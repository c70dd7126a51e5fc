"""From detections to notices and their rounds: planning, follow-ups, escalation, digests.

Everything here only writes rows (notices, items, outbox, events); sending is the outbox's job,
so planning can be repeated or crash half-way without a message going out twice.

Daily digests: a provider with `digest` set (`"digest": true` in the providers file) asked for
batches. Its messages (first notices, follow-ups, escalations to it) are composed and keyed as
usual, one X-ARF report each, but enqueued `held`; `build_digests` then sends it one message a
UTC day listing every one of them: the e-mail carries each notice's text in order and one
`application/json` part per notice (`xarf-1.json`, `xarf-2.json`, ...), each a complete X-ARF
report that validates on its own (a webhook gets `{"reports": [...]}`). The digest's outbox key
is unique per (provider, day), so a provider never gets two digests the same day; what is held
after that day's digest waits for the next one. Its notices' follow-ups fall due at the start of
a UTC day, so with the default 24 h interval every notice still online is in each day's digest.
Held messages of notices that were confirmed removed before the digest went out are dropped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from orbweaver.attribution.types import Attribution, ChainLink
from orbweaver.clock import Clock, ensure_utc
from orbweaver.notices.compose import compose_letter, digest_letter
from orbweaver.notices.outbox import (
    DIGEST_IDS,
    UNSENT_STATUSES,
    NewMessage,
    SentHook,
    enqueue,
    outbox_key,
    report_id_for,
)
from orbweaver.notices.settings import NoticeSettings
from orbweaver.notices.xarf import Contact, ItemHashes, ReportInput, compose_report
from orbweaver.store import record_event
from orbweaver.store.models import (
    Bank,
    BankEntry,
    Detection,
    Media,
    Notice,
    NoticeItem,
    Outbox,
    Provider,
    Sighting,
)

ACTIONABLE = ("csam_prepubescent", "csam_postpubescent", "harmful_abusive")
# Most severe first: an archive holding both gets the stronger wording.
SEVERITY = {"csam_prepubescent": 0, "csam_postpubescent": 1, "harmful_abusive": 2}


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


def _naive(when: datetime) -> datetime:
    return ensure_utc(when).replace(tzinfo=None)


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
        .where(NoticeItem.id.is_(None), Detection.category.in_(ACTIONABLE))
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
    pdqs: PdqCache = {}
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
            notice.category = min((it.category for it in items), key=SEVERITY.__getitem__)
            mine = [
                (
                    facts.media[sig.media_id].sha256,
                    facts.media[sig.media_id].pdq,
                    det.bank_entry_id,
                    *facts.entries[det.bank_entry_id],
                )
                for det, sig in group.rows
            ]
            _flag_recidivism(session, clock, notice, stats, pdqs, mine)
            record_event(
                session,
                clock,
                "notice.created",
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
            "notice.tor_only",
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
        created_at=_naive(clock.now()),
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
    items = [
        NoticeItem(
            notice_id=notice.id,
            detection_id=det.id,
            media_id=sig.media_id,
            member_path=sig.member_path,
            category=det.category,
        )
        for det, sig in group.rows
    ]
    session.add_all(items)
    stats.items += len(items)
    session.flush()
    return items


def _worst(notice: Notice) -> str:
    return min((it.category for it in notice.items), key=SEVERITY.__getitem__)


def _hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


PdqCache = dict[int, list[tuple[int, str]]]


RecidivismRow = tuple[str, str | None, int, int, str, str]


def _flag_recidivism(
    session: Session,
    clock: Clock,
    notice: Notice,
    stats: PlanStats,
    pdqs: PdqCache,
    known: list[RecidivismRow] | None = None,
) -> None:
    """A new notice is recidivist when its media (same sha256, same bank entry, or PDQ within
    the bank's threshold) was already noticed to the same provider.

    Exact identities are looked up by index; PDQ neighbours are scanned in a per-pass cache of
    the provider's earlier hashes (loaded once), so planning stays linear in the batch."""
    rows: Sequence[RecidivismRow] = known or (
        session.execute(
            select(
                Media.sha256,
                Media.pdq,
                Detection.bank_entry_id,
                Bank.pdq_threshold,
                BankEntry.signal_type,
                BankEntry.signal,
            )
            .select_from(NoticeItem)
            .join(Media, Media.id == NoticeItem.media_id)
            .join(Detection, Detection.id == NoticeItem.detection_id)
            .join(BankEntry, BankEntry.id == Detection.bank_entry_id)
            .join(Bank, Bank.id == BankEntry.bank_id)
            .where(NoticeItem.notice_id == notice.id)
        ).all()
    )
    mine = [(sha, pdq, entry, threshold) for sha, pdq, entry, threshold, _, _ in rows]
    # A perceptual detection (a mirrored or rotated copy matched through its dihedral hashes)
    # is the picture of the bank entry it matched: compare that entry's PDQ too.
    probes = [(pdq, threshold) for _, pdq, _, threshold in mine if pdq]
    probes += [(signal, threshold) for *_, threshold, kind, signal in rows if kind == "pdq"]
    earlier = _earlier_pdqs(session, notice.provider_id or 0, pdqs)
    prev = session.scalar(
        select(NoticeItem.notice_id)
        .join(Notice, Notice.id == NoticeItem.notice_id)
        .join(Media, Media.id == NoticeItem.media_id)
        .join(Detection, Detection.id == NoticeItem.detection_id)
        .where(
            Notice.provider_id == notice.provider_id,
            Notice.id < notice.id,
            (Media.sha256.in_([m[0] for m in mine]))
            | (Detection.bank_entry_id.in_([m[2] for m in mine])),
        )
        .order_by(NoticeItem.notice_id)
        .limit(1)
    )
    if prev is None:
        prev = next(
            (
                nid
                for nid, pdq in earlier
                for my_pdq, threshold in probes
                # the cache may already hold this notice's own items (autoflush): skip them
                if nid != notice.id and _hamming(pdq, my_pdq) <= threshold
            ),
            None,
        )
    if all(nid != notice.id for nid, _ in earlier[-len(mine) :]):
        earlier.extend((notice.id, m[1]) for m in mine if m[1])
    if prev is None:
        return
    notice.recidivist = True
    notice.recidivist_of_id = prev
    stats.recidivist += 1
    record_event(
        session,
        clock,
        "notice.recidivist",
        subject_type="notice",
        subject_id=notice.id,
        payload={"earlier_notice_id": prev},
    )


def _earlier_pdqs(session: Session, provider_id: int, cache: PdqCache) -> list[tuple[int, str]]:
    if provider_id not in cache:
        cache[provider_id] = [
            (nid, pdq)
            for nid, pdq in session.execute(
                select(NoticeItem.notice_id, Media.pdq)
                .join(Notice, Notice.id == NoticeItem.notice_id)
                .join(Media, Media.id == NoticeItem.media_id)
                .where(Notice.provider_id == provider_id, Media.pdq.is_not(None))
            ).all()
            if pdq
        ]
    return cache[provider_id]


def reporter_of(settings: NoticeSettings) -> Contact:
    return Contact(settings.notice_org, settings.notice_from, settings.notice_domain)


ItemRow = tuple[NoticeItem, Media, Detection, Sighting]


def report_input(
    session: Session,
    notice: Notice,
    round_: int,
    level: int,
    reporter: Contact,
    *,
    rows: list[ItemRow] | None = None,
) -> ReportInput:
    """Gather what one message of `notice` says from the store (or from `rows`, its items as
    planning just wrote them, in order)."""
    found: Sequence[ItemRow] = rows or (
        session.execute(
            select(NoticeItem, Media, Detection, Sighting)
            .join(Media, Media.id == NoticeItem.media_id)
            .join(Detection, Detection.id == NoticeItem.detection_id)
            .join(Sighting, Sighting.id == Detection.sighting_id)
            .where(NoticeItem.notice_id == notice.id)
            .order_by(NoticeItem.id)
        ).all()
    )
    items = [
        ItemHashes(
            sha256=m.sha256,
            sha1=m.sha1,
            md5=m.md5,
            pdq=m.pdq,
            category=it.category,
            member_path=it.member_path,
            match="exact" if d.distance == 0 else "pdq",
        )
        for it, m, d, _ in found
    ]
    seen = [s.seen_at for *_, s in found]
    chain = [ChainLink.from_dict(c) for c in notice.chain]
    host_link = next((c for c in chain if c.role == "hosting_provider"), None)
    return ReportInput(
        report_id=notice.report_id,
        url=notice.url,
        host=notice.host,
        kind=notice.kind,
        category=notice.category,
        items=items,
        first_seen=min(seen),
        last_seen=max(seen),
        reporter=reporter,
        source_identifier=notice.host,
        hosting_provider=host_link.name if host_link else None,
        round=round_,
        escalation_level=level,
        notice_id=notice.id,
    )


def enqueue_round(
    session: Session,
    clock: Clock,
    settings: NoticeSettings,
    notice: Notice,
    *,
    kind: str,
    round_: int,
    to: Provider | None = None,
    rows: list[ItemRow] | None = None,
) -> bool:
    """Compose one message of `notice` (first round, follow-up, or escalation to `to`) and put
    it in the outbox; False if that round was already enqueued or nobody can receive it."""
    provider = to or (session.get(Provider, notice.provider_id) if notice.provider_id else None)
    if provider is None:
        return False
    channel, recipient = (
        ("webhook", provider.webhook_url)
        if provider.webhook_url
        else ("smtp", provider.abuse_email)
    )
    if not recipient:
        record_event(
            session,
            clock,
            "notice.no_contact",
            subject_type="notice",
            subject_id=notice.id,
            payload={"provider_id": provider.id},
        )
        return False
    key = outbox_key(notice.url, provider.id, notice.generation, kind, round_)
    level = round_ if kind == "escalation" else 0
    data = report_input(session, notice, round_, level, reporter_of(settings), rows=rows)
    data.report_id = report_id_for(key) if (kind, round_) != ("notice", 1) else notice.report_id
    downstream = notice.provider.name if (kind == "escalation" and notice.provider) else None
    letter = compose_letter(data, provider.name, downstream)
    msg = NewMessage(
        key=key,
        notice_id=notice.id,
        provider_id=provider.id,
        kind=kind,
        round=round_,
        channel=channel,
        recipient=recipient,
        subject=letter.subject,
        body=letter.body,
        xarf=compose_report(data),
        message_id=f"<{data.report_id}@{settings.notice_domain}>",
        status="held" if provider.digest else "pending",
    )
    return enqueue(session, clock, msg) is not None


def make_on_sent(settings: NoticeSettings) -> SentHook:
    """The outbox hook that updates a notice in the same commit that marks its message sent."""
    interval = timedelta(hours=settings.followup_interval_hours)

    def hook(session: Session, clock: Clock, row: Outbox) -> None:
        notice = session.get(Notice, row.notice_id) if row.notice_id else None
        if notice is not None:
            digest = _is_digest_provider(session, row.provider_id)
            _after_send(session, clock, notice, row, interval, digest=digest)

    return hook


def _is_digest_provider(session: Session, provider_id: int) -> bool:
    p = session.get(Provider, provider_id)
    return bool(p is not None and p.digest)


def _after_send(
    session: Session,
    clock: Clock,
    notice: Notice,
    row: Outbox,
    interval: timedelta,
    *,
    digest: bool = False,
) -> None:
    now = _naive(clock.now())
    if row.kind == "escalation":
        notice.escalation_level = max(notice.escalation_level, row.round)
        record_event(
            session,
            clock,
            "notice.escalated",
            subject_type="notice",
            subject_id=notice.id,
            payload={"to_provider_id": row.provider_id, "level": row.round},
        )
    else:
        notice.rounds_sent = max(notice.rounds_sent, row.round)
        notice.first_sent_at = notice.first_sent_at or now
    notice.last_sent_at = now
    due = now + interval
    if digest and interval >= timedelta(days=1):  # due at the start of a day's digest
        due = due.replace(hour=0, minute=0, second=0, microsecond=0)
    notice.next_followup_at = due


def schedule_rounds(
    session: Session, clock: Clock, settings: NoticeSettings, *, limit: int = 5000
) -> int:
    """Enqueue follow-ups (and escalations after N unanswered rounds) for notices that are
    still online, as last re-checked, and due."""
    now = _naive(clock.now())
    due = session.scalars(
        select(Notice)
        .where(
            Notice.status == "open",
            Notice.first_sent_at.is_not(None),
            Notice.next_followup_at <= now,
            Notice.miss_count == 0,
        )
        .order_by(Notice.next_followup_at)
        .limit(limit)
    ).all()
    count = 0
    for notice in due:
        count += _next_round(session, clock, settings, notice)
    return count


def _next_round(session: Session, clock: Clock, settings: NoticeSettings, notice: Notice) -> int:
    n = settings.escalate_after_rounds
    level = notice.escalation_level + 1
    if n > 0 and notice.rounds_sent >= n * level:
        att = Attribution(host=notice.host, chain=[ChainLink.from_dict(c) for c in notice.chain])
        upstream = att.upstream_of(notice.provider_id or 0, level)
        if upstream is not None:
            to = session.get(Provider, upstream.provider_id)
            if enqueue_round(
                session, clock, settings, notice, kind="escalation", round_=level, to=to
            ):
                return 1
    if pending_rounds(session, notice):
        return 0
    return int(
        enqueue_round(
            session, clock, settings, notice, kind="followup", round_=notice.rounds_sent + 1
        )
    )


def pending_rounds(session: Session, notice: Notice) -> int:
    """Messages of this notice not yet sent: no new round is planned while one is in flight."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Outbox)
            .where(Outbox.notice_id == notice.id, Outbox.status.in_(UNSENT_STATUSES))
        )
        or 0
    )


def digest_key(provider_id: int, day: str) -> str:
    """The outbox key of a provider's digest for one UTC day (`YYYY-MM-DD`)."""
    return outbox_key(f"digest:{day}", provider_id, 0, "digest", 1)


def build_digests(session: Session, clock: Clock, settings: NoticeSettings) -> int:
    """One digest row per digest provider with held messages, unless it had one today; returns
    how many were enqueued. Creating the digest and batching its members is one transaction."""
    now = _naive(clock.now())
    day = now.date().isoformat()
    held = session.scalars(
        select(Outbox).where(Outbox.status == "held").order_by(Outbox.provider_id, Outbox.id)
    ).all()
    by_provider: dict[int, list[Outbox]] = defaultdict(list)
    for row in held:
        by_provider[row.provider_id].append(row)
    made = 0
    for provider_id, rows in by_provider.items():
        key = digest_key(provider_id, day)
        if session.scalar(select(Outbox.id).where(Outbox.key == key)) is not None:
            continue  # today's digest went (or is going) out; these wait for tomorrow's
        members = _open_members(session, clock, rows)
        if members and _enqueue_digest(session, clock, settings, provider_id, day, key, members):
            made += 1
    return made


def _open_members(session: Session, clock: Clock, rows: list[Outbox]) -> list[Outbox]:
    """Held rows whose notice is still open; the others are dropped (and say so)."""
    keep = []
    for row in rows:
        notice = session.get(Notice, row.notice_id) if row.notice_id else None
        if notice is None or notice.status == "open":
            keep.append(row)
            continue
        row.status = "dropped"
        record_event(
            session,
            clock,
            "outbox.dropped",
            subject_type="notice",
            subject_id=row.notice_id,
            payload={"outbox_id": row.id, "reason": f"notice {notice.status} before the digest"},
        )
    return keep


def _enqueue_digest(
    session: Session,
    clock: Clock,
    settings: NoticeSettings,
    provider_id: int,
    day: str,
    key: str,
    members: list[Outbox],
) -> bool:
    provider = session.get_one(Provider, provider_id)
    letter = digest_letter(provider.name, day, [(m.subject, m.body) for m in members])
    first = members[0]
    msg = NewMessage(
        key=key,
        notice_id=None,
        provider_id=provider_id,
        kind="digest",
        round=1,
        channel=first.channel,
        recipient=first.recipient,
        subject=letter.subject,
        body=letter.body,
        xarf={"reports": [m.xarf for m in members], DIGEST_IDS: [m.id for m in members]},
        message_id=f"<{report_id_for(key)}@{settings.notice_domain}>",
    )
    with session.begin_nested() as nested:
        row = enqueue(session, clock, msg)
        if row is None:
            nested.rollback()
            return False
        ids = [m.id for m in members]
        res = session.execute(
            update(Outbox)
            .where(Outbox.id.in_(ids), Outbox.status == "held")
            .values(status="batched")
            .execution_options(synchronize_session="fetch")
        )
        if res.rowcount != len(ids):  # type: ignore[attr-defined]
            nested.rollback()  # another notifier batched some of them a moment ago
            return False
    record_event(
        session,
        clock,
        "digest.enqueued",
        subject_type="provider",
        subject_id=provider_id,
        payload={"outbox_id": row.id, "day": day, "outbox_ids": ids},
    )
    return True


def open_notices_by_provider(session: Session) -> dict[int, list[Notice]]:
    out: dict[int, list[Notice]] = defaultdict(list)
    for n in session.scalars(select(Notice).where(Notice.status == "open")):
        if n.provider_id is not None:
            out[n.provider_id].append(n)
    return out
