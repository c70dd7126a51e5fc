"""Rounds of a notice after planning: composing one message (first round, follow-up or
escalation) into the outbox, the follow-ups and escalations that fall due, and the bookkeeping
done in the commit that marks a message sent.

A follow-up goes out every `followup_interval_hours` while the notice is open, the monitor last
saw the content online (no miss streak under way) and no earlier message of it is still unsent.
Each time another `escalate_after_rounds` rounds have gone out without removal, an escalation
goes one more step up the notice's chain (repeats skipped) before the follow-ups resume.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from orbweaver.attribution import Attribution, ChainLink
from orbweaver.clock import Clock
from orbweaver.notices.compose import compose_letter
from orbweaver.notices.holds import held_notice_ids
from orbweaver.notices.outbox import (
    UNSENT_STATUSES,
    NewMessage,
    SentHook,
    enqueue,
    outbox_key,
    report_id_for,
)
from orbweaver.notices.report_input import ItemRow, report_input, reporter_of
from orbweaver.notices.settings import NoticeSettings
from orbweaver.notices.xarf import compose_report
from orbweaver.store import EventKind, record_event, store_now
from orbweaver.store.models import Notice, Outbox, Provider


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
            EventKind.NOTICE_NO_CONTACT,
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
    now = store_now(clock)
    if row.kind == "escalation":
        notice.escalation_level = max(notice.escalation_level, row.round)
        record_event(
            session,
            clock,
            EventKind.NOTICE_ESCALATED,
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
    still online, as last re-checked, due, and not on hold (`holds`)."""
    now = store_now(clock)
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
    held = held_notice_ids(session) if due else set()
    for notice in due:
        if notice.id in held:  # no follow-up or escalation is even planned while held
            continue
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
