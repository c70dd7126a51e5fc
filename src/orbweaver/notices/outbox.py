"""The outbox: every message a notice sends is a row first, then a delivery.

Guarantees, and how:
- **never twice from planning**: `key` is unique per (URL, provider, generation, kind, round);
  a second enqueue of the same round finds the row (or hits the constraint) and adds nothing.
- **never lost**: a row is claimed with a lease (`next_attempt_at = now + lease`); a worker that
  dies leaves it to be claimed again when the lease runs out.
- **never twice from a crash, as far as a protocol allows**: the row is marked `sending` in its
  own commit just before the SMTP/HTTP exchange and `sent` right after. A row found `sending`
  after its lease ran out is the one case where the outcome is unknown (the process died inside
  the exchange); it is sent again with the *same* Message-ID, X-ARF `report_id` and
  Idempotency-Key so the receiver can drop it, and an `outbox.uncertain_resend` event records it.
  Losing a removal notice is worse than a duplicate the receiver can recognise.
- Claims use `FOR UPDATE SKIP LOCKED` on PostgreSQL and a compare-and-set on every backend, so
  several notifiers never claim the same row.
- **digests**: a message to a provider that asked for batches is enqueued `held` (its own key and
  X-ARF as usual); once a day `digests.build_digests` moves every held row of that provider to
  `batched` and adds one `digest` row (key unique per (provider, UTC day)) that lists them in
  `xarf["orbweaver_outbox_ids"]`. The digest is delivered like any row; in the commit that marks
  it `sent`, its members are marked `sent` too (and their notices updated), or `failed` with it.
- **outages are waited out**: a transient failure (relay or endpoint unreachable, 4xx) is retried
  with exponential backoff, capped, for `delivery_retry_hours` after the first failure of the
  streak (an `outbox.failing` event marks it), not for a number of attempts; only then is the
  row `failed`, with one alert line in the log and an `outbox.failed` event.
  `requeue_failed` (`orbweaver notices retry`) puts failed rows back, audited.
- **one bad row fails alone**: anything that is not a transient delivery error (a message that
  cannot be composed, a header refused, a 5xx) fails that row at once, its error recorded, and
  the pass goes on with the next row.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import Message
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from orbweaver.attribution import check_webhook
from orbweaver.clock import Clock, ensure_utc
from orbweaver.notices.compose import build_email
from orbweaver.notices.gate import Gate, Verdict
from orbweaver.notices.settings import NoticeSettings
from orbweaver.notices.transport import DeliveryError, Transport
from orbweaver.store import EventKind, Store, record_event, store_now
from orbweaver.store.models import Event, Outbox

log = logging.getLogger(__name__)

REPORT_NS = uuid.UUID("6f1d6c3e-3b8a-4f55-9a57-0b7e1c5a9d21")
DUE_STATUSES = ("pending", "claimed", "sending")
# Not yet delivered: due ones, and messages waiting for (held) or inside (batched) a digest.
UNSENT_STATUSES = (*DUE_STATUSES, "held", "batched")
DIGEST_IDS = "orbweaver_outbox_ids"


def outbox_key(url: str, provider_id: int, generation: int, kind: str, round_: int) -> str:
    """The idempotency key of one message: same inputs, same key, one row."""
    raw = f"{url}\n{provider_id}\n{generation}\n{kind}\n{round_}"
    return hashlib.sha256(raw.encode()).hexdigest()


def report_id_for(key: str) -> str:
    """A stable UUID per message, so a resend carries the same X-ARF report_id."""
    return str(uuid.uuid5(REPORT_NS, key))


@dataclass
class NewMessage:
    key: str
    notice_id: int | None
    provider_id: int
    kind: str
    round: int
    channel: str
    recipient: str
    subject: str
    body: str
    xarf: dict[str, Any]
    message_id: str
    status: str = "pending"  # "held": waits for the provider's daily digest


def enqueue(session: Session, clock: Clock, msg: NewMessage) -> Outbox | None:
    """Add the message unless its key exists; returns the new row, or None if it existed."""
    if session.scalar(select(Outbox.id).where(Outbox.key == msg.key)) is not None:
        return None
    now = store_now(clock)
    row = Outbox(
        key=msg.key,
        notice_id=msg.notice_id,
        provider_id=msg.provider_id,
        kind=msg.kind,
        round=msg.round,
        channel=msg.channel,
        recipient=msg.recipient,
        message_id=msg.message_id,
        subject=msg.subject,
        body=msg.body,
        xarf=msg.xarf,
        status=msg.status,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None  # another notifier enqueued the same round a moment ago
    return row


def claim_due(store: Store, clock: Clock, settings: NoticeSettings, limit: int) -> list[int]:
    """Claim up to `limit` due rows for this worker under a lease; returns their ids."""
    now = store_now(clock)
    lease_until = now + timedelta(seconds=settings.delivery_lease_s)
    with store.session() as session:
        query = (
            select(Outbox.id, Outbox.status, Outbox.next_attempt_at)
            .where(Outbox.status.in_(DUE_STATUSES), Outbox.next_attempt_at <= now)
            .order_by(Outbox.next_attempt_at, Outbox.id)
            .limit(limit)
        )
        if store.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        claimed = []
        for row_id, status, due in session.execute(query).all():
            if status == "sending":
                record_event(
                    session,
                    clock,
                    EventKind.OUTBOX_UNCERTAIN_RESEND,
                    subject_type="outbox",
                    subject_id=row_id,
                    payload={"reason": "worker died during the exchange; resending same ids"},
                )
            res = session.execute(
                update(Outbox)
                .where(Outbox.id == row_id, Outbox.status == status, Outbox.next_attempt_at == due)
                .values(status="claimed", next_attempt_at=lease_until)
            )
            if res.rowcount == 1:  # type: ignore[attr-defined]
                claimed.append(row_id)
    return claimed


@dataclass
class DeliveryStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    released: int = 0  # claimed, then handed back unsent because the notifier was stopping
    held: int = 0  # put back because a hold covers the notice (`gate`)
    deferred: int = 0  # first notice put back: its re-check could not tell (`gate`)
    gone: int = 0  # first notice dropped: content removed before notice (`gate`)
    errors: list[str] = field(default_factory=list)


SentHook = Callable[[Session, Clock, Outbox], None]


def deliver_due(
    store: Store,
    clock: Clock,
    transport: Transport,
    settings: NoticeSettings,
    *,
    limit: int | None = None,
    on_sent: SentHook | None = None,
    stop: threading.Event | None = None,
    gate: Gate | None = None,
) -> DeliveryStats:
    """Send every due message once; `on_sent` updates the notice in the same commit. When
    `stop` is set (the notifier is asked to stop), the message being sent is finished and the
    rest of the batch is handed back (`release_claims`), due at once for any notifier.
    `gate` (holds, the re-check before a first notice) is asked about each row just before it
    goes."""
    stats = DeliveryStats()
    claimed = claim_due(store, clock, settings, limit or settings.notify_batch_size)
    for i, row_id in enumerate(claimed):
        if stop is not None and stop.is_set():
            stats.released = release_claims(store, clock, claimed[i:])
            break
        if gate is not None and not _admitted(store, clock, gate, row_id, stats):
            continue
        _deliver_one(store, clock, transport, settings, row_id, stats, on_sent)
    return stats


def _admitted(store: Store, clock: Clock, gate: Gate, row_id: int, stats: DeliveryStats) -> bool:
    """The gate's word on one claimed row, counted; False when it was put back or dropped."""
    verdict = gate.admit(store, clock, row_id)
    if verdict == Verdict.HELD:
        stats.held += 1
    elif verdict == Verdict.DEFERRED:
        stats.deferred += 1
    elif verdict == Verdict.GONE:
        stats.gone += 1
    return verdict == Verdict.GO


def release_claims(store: Store, clock: Clock, ids: list[int]) -> int:
    """Hand back rows this notifier claimed and did not start: pending and due now, so another
    notifier (or this one restarted) sends them without waiting for the lease to run out.
    Rows already `sending` are not touched: their outcome is the exchange's."""
    if not ids:
        return 0
    now = store_now(clock)
    with store.session() as session:
        res = session.execute(
            update(Outbox)
            .where(Outbox.id.in_(ids), Outbox.status == "claimed")
            .values(status="pending", next_attempt_at=now)
        )
        released = int(res.rowcount or 0)  # type: ignore[attr-defined]
    if released:
        log.info("handed back %d claimed message(s) unsent (stopping)", released)
    return released


def _deliver_one(
    store: Store,
    clock: Clock,
    transport: Transport,
    settings: NoticeSettings,
    row_id: int,
    stats: DeliveryStats,
    on_sent: SentHook | None,
) -> None:
    with store.session() as session:
        row = session.get(Outbox, row_id)
        if row is None or row.status != "claimed":
            return
        row.status = "sending"
        row.attempts += 1
    try:
        message = _compose(settings, row, clock)
    except Exception as exc:  # this row's data cannot make a message: it alone fails
        _record_failure(store, clock, settings, row_id, _permanent(exc, "composing"), stats)
        return
    try:
        _transmit(transport, row, message)
    except DeliveryError as exc:
        _record_failure(store, clock, settings, row_id, exc, stats)
        return
    except Exception as exc:  # not a delivery error the transport knows: permanent
        transport.close()  # the exchange may have stopped half-way; the next row reconnects
        _record_failure(store, clock, settings, row_id, _permanent(exc, "sending"), stats)
        return
    with store.session() as session:
        row = session.get_one(Outbox, row_id)
        row.status = "sent"
        row.sent_at = store_now(clock)
        row.last_error = None
        _sent_event(session, clock, row, on_sent)
        for member in digest_members(session, row):
            member.status = "sent"
            member.sent_at = row.sent_at
            member.attempts = row.attempts
            _sent_event(session, clock, member, on_sent, digest_outbox_id=row.id)
    stats.sent += 1


def _permanent(exc: Exception, step: str) -> DeliveryError:
    return DeliveryError(f"{step}: {type(exc).__name__}: {exc}", permanent=True)


def _sent_event(
    session: Session,
    clock: Clock,
    row: Outbox,
    on_sent: Any,
    *,
    digest_outbox_id: int | None = None,
) -> None:
    """The `<kind>.sent` event of one message (and the caller's bookkeeping for it)."""
    payload: dict[str, Any] = {"outbox_id": row.id}
    if digest_outbox_id is not None:
        payload["digest_outbox_id"] = digest_outbox_id
    payload.update(
        round=row.round, provider_id=row.provider_id, channel=row.channel, recipient=row.recipient
    )
    record_event(
        session,
        clock,
        EventKind.sent(row.kind),
        subject_type="notice",
        subject_id=row.notice_id,
        payload=payload,
    )
    if on_sent is not None:
        on_sent(session, clock, row)


def digest_members(session: Session, row: Outbox) -> list[Outbox]:
    """The messages a digest row carries (none for other rows)."""
    if row.kind != "digest":
        return []
    ids = [int(i) for i in row.xarf.get(DIGEST_IDS, [])]
    return list(session.scalars(select(Outbox).where(Outbox.id.in_(ids)).order_by(Outbox.id)))


@dataclass(frozen=True)
class _Webhook:
    url: str
    report: dict[str, Any]
    key: str


def _compose(settings: NoticeSettings, row: Outbox, clock: Clock) -> Message | _Webhook:
    """What goes out for `row`: a MIME message or a webhook POST. Raises on data that cannot
    make one (a header with a line break, a recipient that is not one address)."""
    xarf: dict[str, Any] | list[dict[str, Any]] = row.xarf
    if row.kind == "digest":
        # X-ARF reports only: the member ids are our bookkeeping, not the provider's business
        xarf = list(row.xarf["reports"])
        if row.channel == "webhook":
            key = row.message_id.strip("<>").split("@")[0]
            return _Webhook(check_webhook(row.recipient), {"reports": xarf}, key)
    elif row.channel == "webhook":
        return _Webhook(check_webhook(row.recipient), row.xarf, row.xarf["report_id"])
    return build_email(
        sender=settings.notice_from,
        recipient=row.recipient,
        subject=row.subject,
        body=row.body,
        xarf=xarf,
        message_id=row.message_id,
        date=ensure_utc(clock.now()),
    )


def _transmit(transport: Transport, row: Outbox, message: Message | _Webhook) -> None:
    if isinstance(message, _Webhook):
        transport.post_webhook(message.url, message.report, message.key)
    else:
        transport.send_email(message)


def _failing_since(
    session: Session, clock: Clock, row: Outbox, now: datetime, error: str
) -> datetime:
    """When this row's current run of failures began: now for its first failure (recorded as
    `outbox.failing`), else the latest such event (read only once the row is old enough)."""
    if row.last_error is None:
        record_event(
            session,
            clock,
            EventKind.OUTBOX_FAILING,
            subject_type="outbox",
            subject_id=row.id,
            payload={"notice_id": row.notice_id, "error": error},
        )
        return now
    since = session.scalar(
        select(func.max(Event.at)).where(
            Event.kind == EventKind.OUTBOX_FAILING,
            Event.subject_type == "outbox",
            Event.subject_id == row.id,
        )
    )
    return since or row.created_at


def backoff_delay(settings: NoticeSettings, attempts: int) -> float:
    """Seconds before attempt `attempts + 1`: doubling from the base, never above the cap."""
    exponent = min(max(attempts - 1, 0), 32)  # 2**32 × any base is past every cap
    return float(min(settings.delivery_backoff_s * 2**exponent, settings.delivery_backoff_max_s))


def _record_failure(
    store: Store,
    clock: Clock,
    settings: NoticeSettings,
    row_id: int,
    exc: DeliveryError,
    stats: DeliveryStats,
) -> None:
    """Back off while the failure is transient and young; else fail the row, and say so."""
    now = store_now(clock)
    error = str(exc)[:2000]
    window = timedelta(hours=settings.delivery_retry_hours)
    with store.session() as session:
        row = session.get_one(Outbox, row_id)
        since: datetime | None = None  # when this run of transient failures began
        if exc.permanent:
            expired = False
        elif row.last_error is not None and now - row.created_at < window:
            expired = False  # it cannot have failed for longer than it has existed
        else:
            since = _failing_since(session, clock, row, now, error)
            expired = now - since >= window
        row.last_error = error
        capped = 0 < settings.delivery_max_attempts <= row.attempts
        give_up = exc.permanent or capped or expired
        if give_up:
            row.status = "failed"
            for member in digest_members(session, row):
                member.status = "failed"
                member.last_error = row.last_error
            stats.failed += 1
            _alert(row, exc, since, now)
        else:
            row.status = "pending"
            row.next_attempt_at = now + timedelta(seconds=backoff_delay(settings, row.attempts))
            stats.retried += 1
        payload: dict[str, Any] = {
            "outbox_id": row.id,
            "attempts": row.attempts,
            "error": row.last_error,
            "permanent": exc.permanent,
        }
        if since is not None:
            payload["failing_since"] = since.isoformat()
        record_event(
            session,
            clock,
            EventKind.OUTBOX_FAILED if give_up else EventKind.OUTBOX_RETRY,
            subject_type="notice",
            subject_id=row.notice_id,
            payload=payload,
        )
    stats.errors.append(str(exc))


def _alert(row: Outbox, exc: DeliveryError, since: datetime | None, now: datetime) -> None:
    """The one log line an operator must see: a message will not go out without them."""
    if exc.permanent:
        why = "permanent error"
    elif since is not None:
        why = f"still failing after {now - since}"
    else:
        why = "attempts exhausted"
    log.error(
        "ALERT outbox %d failed (%s %s round %d to %s, notice %s, %d attempt(s), %s): %s; "
        "`orbweaver notices retry %d` queues it again",
        row.id,
        row.kind,
        row.channel,
        row.round,
        row.recipient.encode("unicode_escape").decode("ascii"),
        row.notice_id,
        row.attempts,
        why,
        str(exc).encode("unicode_escape").decode("ascii")[:500],
        row.id,
    )


def requeue_failed(
    store: Store, clock: Clock, ids: list[int] | None = None, *, actor: str = "operator"
) -> list[int]:
    """Put failed rows (these, or all when `ids` is None) back in the queue, due now, with a
    fresh retry window; an `outbox.requeued` event says who did it. A failed digest takes its
    failed members back to `batched`; asking for a member requeues the digest that carries it.
    Returns the ids of the rows queued again."""
    now = store_now(clock)
    done: list[int] = []
    with store.session() as session:
        failed = list(
            session.scalars(select(Outbox).where(Outbox.status == "failed").order_by(Outbox.id))
        )
        digests = [r for r in failed if r.kind == "digest"]
        carried = {int(i): d for d in digests for i in d.xarf.get(DIGEST_IDS, [])}
        wanted = failed if ids is None else [r for r in failed if r.id in set(ids)]
        rows = {(carried.get(r.id) or r).id: carried.get(r.id) or r for r in wanted}
        for row in sorted(rows.values(), key=lambda r: r.id):
            record_event(
                session,
                clock,
                EventKind.OUTBOX_REQUEUED,
                subject_type="outbox",
                subject_id=row.id,
                actor=actor,
                payload={
                    "notice_id": row.notice_id,
                    "attempts": row.attempts,
                    "error": row.last_error,
                },
            )
            row.status = "pending"
            row.next_attempt_at = now
            row.attempts = 0
            row.last_error = None
            for member in digest_members(session, row):
                if member.status == "failed":
                    member.status = "batched"
                    member.last_error = None
            done.append(row.id)
    return done
