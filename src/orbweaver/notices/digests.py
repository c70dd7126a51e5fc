"""Daily digests, for providers who asked for batches.

A provider with `digest` set (`"digest": true` in the providers file) gets its messages (first
notices, follow-ups, escalations to it) composed and keyed as usual, one X-ARF report each, but
enqueued `held`; `build_digests` then sends it one message a UTC day listing every one of them:
the e-mail carries each notice's text in order and one `application/json` part per notice
(`xarf-1.json`, `xarf-2.json`, ...), each a complete X-ARF report that validates on its own (a
webhook gets `{"reports": [...]}`). The digest's outbox key is unique per (provider, day), so a
provider never gets two digests the same day; what is held after that day's digest waits for
the next one. Its notices' follow-ups fall due at the start of a UTC day (`rounds.make_on_sent`),
so with the default 24 h interval every notice still online is in each day's digest. Held
messages of notices that were confirmed removed before the digest went out are dropped.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from orbweaver.clock import Clock
from orbweaver.notices.compose import digest_letter
from orbweaver.notices.holds import held_notice_ids
from orbweaver.notices.outbox import DIGEST_IDS, NewMessage, enqueue, outbox_key, report_id_for
from orbweaver.notices.settings import NoticeSettings
from orbweaver.store import EventKind, record_event, store_now
from orbweaver.store.models import Notice, Outbox, Provider


def digest_key(provider_id: int, day: str) -> str:
    """The outbox key of a provider's digest for one UTC day (`YYYY-MM-DD`)."""
    return outbox_key(f"digest:{day}", provider_id, 0, "digest", 1)


def build_digests(session: Session, clock: Clock, settings: NoticeSettings) -> int:
    """One digest row per digest provider with held messages, unless it had one today; returns
    how many were enqueued. Creating the digest and batching its members is one transaction."""
    now = store_now(clock)
    day = now.date().isoformat()
    held = session.scalars(
        select(Outbox).where(Outbox.status == "held").order_by(Outbox.provider_id, Outbox.id)
    ).all()
    by_provider: dict[int, list[Outbox]] = defaultdict(list)
    on_hold = held_notice_ids(session) if held else set()
    for row in held:
        if row.notice_id in on_hold:  # an operator's hold: stays out of the digest for now
            continue
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
            EventKind.OUTBOX_DROPPED,
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
        EventKind.DIGEST_ENQUEUED,
        subject_type="provider",
        subject_id=provider_id,
        payload={"outbox_id": row.id, "day": day, "outbox_ids": ids},
    )
    return True
