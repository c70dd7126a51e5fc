"""Fetching exchanges into their banks, incrementally, and what the role runs.

`fetch` asks the exchange's client for pages from the stored checkpoint and stores each page
in one transaction with the checkpoint that follows it: a fetch killed anywhere resumes after
the last page stored, and a page the exchange garbles stores nothing of itself and stops the
fetch with its error (`Exchange.error`), everything before it kept. Per page:

- each entry's fingerprints become bank entries of the exchange's bank (`source` the exchange's
  name, `member` who shared it, `tags` its classification and labels), added once per signal
  (a signal several entries share is one bank entry);
- an entry sent again replaces what it gave; a deleted entry withdraws what it gave: a bank
  entry that no exchange entry holds any more, and that this exchange brought, gets
  `removed_at` (kept for the detections that name it, never matched again);
- `exchange_entry` keeps, per fingerprint, the exchange's entry id, member and fingerprint
  type: how deletions find their bank entries and feedback its exchange entry.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from orbweaver.banks import EntryRow, add_entries_ids, ensure_bank
from orbweaver.categories import CATEGORIES
from orbweaver.clock import Clock
from orbweaver.exchanges.base import (
    ExchangeClient,
    ExchangeError,
    FeedbackRefused,
    Page,
    Submission,
    SubmissionRefused,
    Update,
    Vote,
)
from orbweaver.exchanges.settings import ExchangeConfig, ExchangeSettings
from orbweaver.signals import signal_types
from orbweaver.store import (
    EventKind,
    Store,
    driver_value,
    insert_rows,
    one_of,
    record_event,
)
from orbweaver.store.models import (
    Bank,
    BankEntry,
    Exchange,
    ExchangeEntry,
    ExchangeSubmission,
    ExchangeVote,
    Media,
)

log = logging.getLogger(__name__)

Guard = Callable[[str], None]


# -- clients ---------------------------------------------------------------------------------


def credentials_of(name: str, config: ExchangeConfig, settings: ExchangeSettings) -> str:
    """python-threatexchange's credential string for the exchange: from
    `exchange_credentials`, else the table's `user:password`."""
    given = settings.exchange_credentials.get(name, "")
    if given:
        return given
    if config.password:
        return f"{config.user}:{config.password}" if config.user else config.password
    return ""


def build_client(
    name: str, config: ExchangeConfig, settings: ExchangeSettings, *, guard: Guard | None = None
) -> ExchangeClient:
    """The client of one configured exchange (its kind's module)."""
    creds = credentials_of(name, config, settings)
    if config.kind == "ncmec":
        from orbweaver.exchanges.ncmec import NcmecClient

        return NcmecClient(config, creds, guard=guard, timeout=settings.exchange_timeout_s)
    if config.kind == "stopncii":
        from orbweaver.exchanges import stopncii

        return stopncii.client(config, creds)
    if config.kind == "fb_threatexchange":
        from orbweaver.exchanges import fb_threatexchange

        return fb_threatexchange.client(config, creds)
    if config.kind == "file":
        from orbweaver.exchanges import file

        return file.client(config, creds)
    raise ExchangeError(f"unknown exchange kind {config.kind!r}")


# -- fetching ------------------------------------------------------------------------------


@dataclass
class FetchReport:
    name: str
    pages: int = 0
    entries: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    skipped: int = 0
    complete: bool = False
    error: str = ""


def exchange_row(store: Store, clock: Clock, name: str, config: ExchangeConfig) -> int:
    """The exchange's row (created with its bank on first use); its id."""
    bank = ensure_bank(store, clock, config.bank)
    with store.session() as session:
        row = session.scalar(sa.select(Exchange).where(Exchange.name == name))
        if row is None:
            row = Exchange(
                name=name,
                kind=config.kind,
                bank_id=bank.id,
                checkpoint={},
                error="",
                created_at=clock.now(),
            )
            session.add(row)
            session.flush()
        elif row.bank_id != bank.id or row.kind != config.kind:
            raise ExchangeError(
                f"exchange {name} fed bank id {row.bank_id} as {row.kind}; its configuration "
                f"now says bank {config.bank} as {config.kind} (`orbweaver exchange reset`)"
            )
        return row.id


def fetch(
    store: Store,
    clock: Clock,
    name: str,
    config: ExchangeConfig,
    client: ExchangeClient,
    *,
    max_pages: int | None = None,
    snapshot: bool = False,
    stop: threading.Event | None = None,
    on_page: Callable[[FetchReport], None] | None = None,
) -> FetchReport:
    """Fetch the exchange from its stored checkpoint into its bank (see the module's doc)."""
    exchange_id = exchange_row(store, clock, name, config)
    report = FetchReport(name)
    with store.session() as session:
        row = session.get(Exchange, exchange_id)
        assert row is not None
        checkpoint, bank_id = dict(row.checkpoint or {}), row.bank_id
    seen: set[str] = set()
    try:
        for page in client.pages(checkpoint, clock.now()):
            with store.session() as session:
                _apply(session, clock, exchange_id, bank_id, name, page, report)
                if page.complete and snapshot:
                    _withdraw_unseen(session, clock, exchange_id, name, seen, page, report)
                row = session.get(Exchange, exchange_id)
                assert row is not None
                row.checkpoint = page.checkpoint
                row.fetched_at = clock.now()
                row.error = ""
                if page.complete:
                    row.completed_at = clock.now()
            if snapshot:
                seen.update(u.external_id for u in page.updates if not u.deleted)
            report.pages += 1
            report.complete = page.complete
            if on_page is not None:
                on_page(report)
            if (max_pages is not None and report.pages >= max_pages) or (
                stop is not None and stop.is_set()
            ):
                break
    except ExchangeError as exc:
        report.error = str(exc)
        with store.session() as session:
            row = session.get(Exchange, exchange_id)
            assert row is not None
            row.error, row.error_at = report.error[:2000], clock.now()
    with store.session() as session:
        record_event(
            session,
            clock,
            EventKind.EXCHANGE_FETCHED,
            subject_type="exchange",
            subject_id=exchange_id,
            actor="exchanges",
            payload={
                "name": name,
                "pages": report.pages,
                "added": report.added,
                "updated": report.updated,
                "removed": report.removed,
                "complete": report.complete,
            },
        )
    return report


_EXCHANGE_ENTRY_COLUMNS = (
    "exchange_id",
    "external_id",
    "signal_type",
    "bank_entry_id",
    "member_id",
    "fingerprint_type",
    "updated_at",
)


def _apply(
    session: Session,
    clock: Clock,
    exchange_id: int,
    bank_id: int,
    source: str,
    page: Page,
    report: FetchReport,
) -> None:
    """Store one page (in the caller's transaction)."""
    now = clock.now()
    report.skipped += len(page.skipped)
    # the last word of the page on each entry counts
    latest: dict[str, Update] = {}
    for update in page.updates:
        latest[update.external_id] = update
    report.entries += len(latest)
    if not latest:
        return
    ids = list(latest)
    old = session.execute(
        sa.select(ExchangeEntry.external_id, ExchangeEntry.bank_entry_id).where(
            ExchangeEntry.exchange_id == exchange_id,
            one_of(session, ExchangeEntry.external_id, ids),
        )
    ).all()
    had = {ext for ext, _ in old}
    report.updated += sum(1 for ext in had if not latest[ext].deleted)
    # the bank entries of what is shared now
    known = signal_types()
    rows: list[tuple[Update, str, str, str]] = []  # update, signal type, signal, exchange type
    for update in latest.values():
        if update.deleted:
            continue
        for fp in update.fingerprints:
            kind = known.get(fp.signal_type)
            if kind is None:
                report.skipped += 1
                continue
            try:
                signal = kind.normalize(fp.signal)
            except ValueError:
                report.skipped += 1
                continue
            rows.append((update, fp.signal_type, signal, fp.exchange_type))
    entry_rows = [
        EntryRow(
            signal_type,
            signal,
            update.category if update.category in CATEGORIES else CATEGORIES[0],
            source,
            member=update.member or update.member_id,
            tags=update.tags,
        )
        for update, signal_type, signal, _ in rows
    ]
    added, bank_ids = add_entries_ids(session, bank_id, entry_rows, clock)
    report.added += added
    revived = [
        i for i, removed in bank_ids.values() if removed is not None
    ]  # withdrawn once, shared again
    if revived:
        session.execute(
            sa.update(BankEntry)
            .where(BankEntry.id.in_(revived), BankEntry.source == source)
            .values(removed_at=None)
        )
    # replace the exchange's entries of these ids (a first fetch has none to replace)
    if had:
        session.execute(
            sa.delete(ExchangeEntry).where(
                ExchangeEntry.exchange_id == exchange_id,
                one_of(session, ExchangeEntry.external_id, sorted(had)),
            )
        )
    table = cast(sa.Table, ExchangeEntry.__table__)
    updated_at = driver_value(session, table.c.updated_at, now)
    fresh = [
        (
            exchange_id,
            update.external_id,
            signal_type,
            bank_ids[(signal_type, signal)][0],
            update.member_id,
            exchange_type,
            updated_at,
        )
        for update, signal_type, signal, exchange_type in rows
        if (signal_type, signal) in bank_ids
    ]
    insert_rows(session, table, _EXCHANGE_ENTRY_COLUMNS, fresh)
    held = {row[3] for row in fresh}
    report.removed += _withdraw(session, now, source, {b for _, b in old} - held)


def _withdraw(session: Session, now: Any, source: str, candidates: Iterable[int]) -> int:
    """Withdraw the bank entries among `candidates` that no exchange entry holds any more and
    that `source` brought; how many."""
    candidates = sorted(set(candidates))
    if not candidates:
        return 0
    still = set(
        session.scalars(
            sa.select(ExchangeEntry.bank_entry_id).where(
                ExchangeEntry.bank_entry_id.in_(candidates)
            )
        )
    )
    gone = [c for c in candidates if c not in still]
    if not gone:
        return 0
    result = session.execute(
        sa.update(BankEntry)
        .where(BankEntry.id.in_(gone), BankEntry.source == source, BankEntry.removed_at.is_(None))
        .values(removed_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _withdraw_unseen(
    session: Session,
    clock: Clock,
    exchange_id: int,
    source: str,
    seen: set[str],
    last: Page,
    report: FetchReport,
) -> None:
    """A snapshot exchange (a file): what the whole list no longer has is withdrawn."""
    seen = seen | {u.external_id for u in last.updates if not u.deleted}
    held = session.execute(
        sa.select(ExchangeEntry.external_id, ExchangeEntry.bank_entry_id).where(
            ExchangeEntry.exchange_id == exchange_id
        )
    ).all()
    gone = [(ext, b) for ext, b in held if ext not in seen]
    if not gone:
        return
    gone_ids = sorted({ext for ext, _ in gone})
    for i in range(0, len(gone_ids), 1000):
        session.execute(
            sa.delete(ExchangeEntry).where(
                ExchangeEntry.exchange_id == exchange_id,
                ExchangeEntry.external_id.in_(gone_ids[i : i + 1000]),
            )
        )
    report.removed += _withdraw(session, clock.now(), source, {b for _, b in gone})


# -- status ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExchangeStatus:
    name: str
    kind: str
    bank: str
    enabled: bool
    entries: int
    checkpoint: dict[str, Any]
    fetched_at: str
    completed_at: str
    error: str
    pending_votes: int = 0
    configured: bool = True


def status(store: Store, settings: ExchangeSettings) -> list[ExchangeStatus]:
    """Every configured exchange (and any fetched before that is no longer configured): its
    bank, live entries, checkpoint, last fetch and error."""
    with store.session() as session:
        rows = {r.name: r for r in session.scalars(sa.select(Exchange))}
        counts = dict(
            session.execute(
                sa.select(
                    ExchangeEntry.exchange_id, sa.func.count(sa.distinct(ExchangeEntry.external_id))
                ).group_by(ExchangeEntry.exchange_id)
            ).all()
        )
        pending = dict(
            session.execute(
                sa.select(ExchangeVote.exchange_id, sa.func.count())
                .where(ExchangeVote.status == "pending")
                .group_by(ExchangeVote.exchange_id)
            ).all()
        )
        banks = dict(session.execute(sa.select(Bank.id, Bank.name)).all())
    out: list[ExchangeStatus] = []
    for name in sorted(set(settings.exchange) | set(rows)):
        config = settings.exchange.get(name)
        row = rows.get(name)
        out.append(
            ExchangeStatus(
                name=name,
                kind=config.kind if config else row.kind if row else "",
                bank=config.bank if config else banks.get(row.bank_id, "") if row else "",
                enabled=bool(config and config.enabled),
                entries=int(counts.get(row.id, 0)) if row else 0,
                checkpoint=dict(row.checkpoint or {}) if row else {},
                fetched_at=row.fetched_at.isoformat() if row and row.fetched_at else "",
                completed_at=row.completed_at.isoformat() if row and row.completed_at else "",
                error=row.error if row else "",
                pending_votes=int(pending.get(row.id, 0)) if row else 0,
                configured=config is not None,
            )
        )
    return out


def reset(store: Store, clock: Clock, name: str, config: ExchangeConfig | None = None) -> int:
    """Forget an exchange's checkpoint: the next fetch starts from the beginning (what it gave
    stays until sent again or deleted). Given its configuration, also bind it to the bank and
    kind configured now (after a move: the old bank keeps its entries, no longer followed);
    returns the exchange's id."""
    bank_id = ensure_bank(store, clock, config.bank).id if config is not None else None
    with store.session() as session:
        row = session.scalar(sa.select(Exchange).where(Exchange.name == name))
        if row is None:
            raise ExchangeError(f"exchange {name} has never been fetched")
        row.checkpoint = {}
        row.error = ""
        if config is not None and (row.bank_id != bank_id or row.kind != config.kind):
            assert bank_id is not None
            session.execute(sa.delete(ExchangeEntry).where(ExchangeEntry.exchange_id == row.id))
            row.bank_id, row.kind = bank_id, config.kind
        return row.id


# -- feedback ----------------------------------------------------------------------------------


def vote(
    store: Store,
    clock: Clock,
    entry_id: int,
    *,
    up: bool,
    reason: str,
    actor: str,
    settings: ExchangeSettings,
) -> ExchangeVote:
    """An analyst confirms (up) or disputes (down, a reason required) a bank entry from
    another source. Stored and recorded as an event; queued to be sent to the exchange it
    came from when that exchange takes feedback (status `pending`), else kept (`local`)."""
    reason = reason.strip()
    if not up and not reason:
        raise ExchangeError("a downvote needs a reason")
    with store.session() as session:
        entry = session.get(BankEntry, entry_id)
        if entry is None:
            raise ExchangeError(f"no bank entry {entry_id}")
        link = session.execute(
            sa.select(ExchangeEntry.exchange_id, Exchange.name)
            .join(Exchange, Exchange.id == ExchangeEntry.exchange_id)
            .where(ExchangeEntry.bank_entry_id == entry_id)
            .order_by(ExchangeEntry.id)
            .limit(1)
        ).first()
        exchange_id, exchange = (link[0], link[1]) if link else (None, "")
        config = settings.exchange.get(exchange) if exchange else None
        sendable = config is not None and config.send_feedback
        row = ExchangeVote(
            bank_entry_id=entry_id,
            exchange_id=exchange_id,
            vote="up" if up else "down",
            reason=reason,
            actor=actor,
            created_at=clock.now(),
            status="pending" if sendable else "local",
            attempts=0,
            error="",
        )
        session.add(row)
        session.flush()
        record_event(
            session,
            clock,
            EventKind.EXCHANGE_VOTED,
            subject_type="bank_entry",
            subject_id=entry_id,
            actor=actor,
            payload={"vote": row.vote, "reason": reason, "exchange": exchange},
        )
        session.expunge(row)
    return row


def send_votes(
    store: Store,
    clock: Clock,
    clients: dict[str, ExchangeClient],
    *,
    attempts: int = 5,
) -> dict[str, int]:
    """Send pending feedback to the exchanges in `clients`: sent, kept (the exchange takes
    none), failed (refused for good, or `attempts` tries), retried later. Counts by outcome."""
    counts = {"sent": 0, "local": 0, "failed": 0, "retry": 0}
    with store.session() as session:
        pending = session.execute(
            sa.select(ExchangeVote.id, ExchangeVote.vote, ExchangeVote.reason, Exchange.name)
            .join(Exchange, Exchange.id == ExchangeVote.exchange_id)
            .where(ExchangeVote.status == "pending")
            .order_by(ExchangeVote.id)
        ).all()
    for vote_id, which, reason, name in pending:
        client = clients.get(name)
        if client is None:
            continue
        with store.session() as session:
            row = session.get(ExchangeVote, vote_id)
            assert row is not None
            link = session.scalar(
                sa.select(ExchangeEntry)
                .where(
                    ExchangeEntry.bank_entry_id == row.bank_entry_id,
                    ExchangeEntry.exchange_id == row.exchange_id,
                )
                .order_by(ExchangeEntry.id)
                .limit(1)
            )
            outcome, error = "local", "the exchange no longer holds this entry"
            if link is not None:
                try:
                    sent = client.send_vote(
                        Vote(
                            link.external_id,
                            link.member_id,
                            link.fingerprint_type,
                            which == "up",
                            reason,
                        )
                    )
                    outcome, error = ("sent", "") if sent else ("local", "")
                except FeedbackRefused as exc:
                    outcome, error = "failed", str(exc)
                except ExchangeError as exc:
                    row.attempts += 1
                    outcome = "failed" if row.attempts >= attempts else "retry"
                    error = str(exc)
            row.error = error[:2000]
            counts[outcome] += 1
            if outcome == "retry":
                continue
            row.status = outcome
            if outcome == "sent":
                row.sent_at = clock.now()
            record_event(
                session,
                clock,
                EventKind.EXCHANGE_VOTE_SENT,
                subject_type="exchange_vote",
                subject_id=vote_id,
                actor="exchanges",
                payload={"exchange": name, "status": outcome, "error": error[:500]},
            )
    return counts


# -- publishing our verdicts -----------------------------------------------------------------

VERDICT_SOURCE = "review:"  # bank entries a review verdict added (`review:item:N`)


def queue_submissions(store: Store, clock: Clock, settings: ExchangeSettings) -> int:
    """Queue (`pending`) every verdict of the banks each enabled exchange publishes
    (`publish_banks`) that it has not had yet: the verdict's SHA-256 entry, live (not
    disabled, quarantined or withdrawn). Once per exchange and entry: a second pass queues
    nothing again. How many were queued."""
    queued = 0
    for name, config in settings.exchange.items():
        if not config.enabled or not config.publish_banks:
            continue
        exchange_id = exchange_row(store, clock, name, config)
        with store.session() as session:
            had = sa.select(ExchangeSubmission.bank_entry_id).where(
                ExchangeSubmission.exchange_id == exchange_id
            )
            entry_ids = session.scalars(
                sa.select(BankEntry.id)
                .join(Bank, Bank.id == BankEntry.bank_id)
                .where(
                    Bank.name.in_(config.publish_banks),
                    BankEntry.signal_type == "sha256",
                    BankEntry.source.startswith(VERDICT_SOURCE),
                    BankEntry.disabled_at.is_(None),
                    BankEntry.quarantined_at.is_(None),
                    BankEntry.removed_at.is_(None),
                    BankEntry.id.not_in(had),
                )
                .order_by(BankEntry.id)
            ).all()
            now = clock.now()
            rows = [
                {
                    "exchange_id": exchange_id,
                    "bank_entry_id": entry_id,
                    "status": "pending",
                    "external_id": "",
                    "attempts": 0,
                    "error": "",
                    "created_at": now,
                }
                for entry_id in entry_ids
            ]
            if rows:
                session.execute(sa.insert(cast(sa.Table, ExchangeSubmission.__table__)), rows)
            queued += len(rows)
    return queued


def submission_of(session: Session, entry: BankEntry, config: ExchangeConfig) -> Submission:
    """What is uploaded for a verdict's SHA-256 entry: the picture's hashes as the store kept
    them (MD5, SHA-1, PDQ beside the SHA-256) and the exchange's classification."""
    prints = {"sha256": entry.signal}
    media = session.scalar(sa.select(Media).where(Media.sha256 == entry.signal))
    if media is not None:
        prints.update(md5=media.md5, sha1=media.sha1)
        if media.pdq:
            prints["pdq"] = media.pdq
    return Submission(
        {k: v for k, v in prints.items() if v}, config.classification_of(entry.category)
    )


def send_submissions(
    store: Store,
    clock: Clock,
    clients: dict[str, ExchangeClient],
    settings: ExchangeSettings,
    *,
    attempts: int = 5,
) -> dict[str, int]:
    """Upload the pending submissions of the exchanges in `clients`: sent (the exchange's id
    kept), failed (refused for good, or `attempts` tries), retried later. Counts by outcome.
    Each is its own transaction, marked sent with the answer: a submission is sent again only
    when its answer was lost, and the exchange gives back the same entry for it."""
    counts = {"sent": 0, "failed": 0, "retry": 0}
    with store.session() as session:
        pending = session.execute(
            sa.select(ExchangeSubmission.id, Exchange.name)
            .join(Exchange, Exchange.id == ExchangeSubmission.exchange_id)
            .where(ExchangeSubmission.status == "pending")
            .order_by(ExchangeSubmission.id)
        ).all()
    for submission_id, name in pending:
        client, config = clients.get(name), settings.exchange.get(name)
        if client is None or config is None:
            continue
        with store.session() as session:
            row = session.get(ExchangeSubmission, submission_id)
            entry = session.get(BankEntry, row.bank_entry_id) if row is not None else None
            if row is None or entry is None or row.status != "pending":
                continue
            outcome, error = "sent", ""
            try:
                row.external_id = client.submit(submission_of(session, entry, config))[:200]
            except SubmissionRefused as exc:
                outcome, error = "failed", str(exc)
            except ExchangeError as exc:
                row.attempts += 1
                outcome = "failed" if row.attempts >= attempts else "retry"
                error = str(exc)
            row.error = error[:2000]
            counts[outcome] += 1
            if outcome == "retry":
                continue
            row.status = outcome
            if outcome == "sent":
                row.sent_at = clock.now()
            record_event(
                session,
                clock,
                EventKind.EXCHANGE_PUBLISHED,
                subject_type="exchange_submission",
                subject_id=submission_id,
                actor="exchanges",
                payload={
                    "exchange": name,
                    "status": outcome,
                    "external_id": row.external_id,
                    "error": error[:500],
                },
            )
    return counts


def publish(
    store: Store,
    clock: Clock,
    clients: dict[str, ExchangeClient],
    settings: ExchangeSettings,
) -> dict[str, int]:
    """Queue what the exchanges publish and send what is pending (the role's pass, after
    fetching); counts by outcome, `queued` among them."""
    queued = queue_submissions(store, clock, settings)
    counts = send_submissions(
        store, clock, clients, settings, attempts=settings.exchange_vote_attempts
    )
    counts["queued"] = queued
    return counts


# -- the role's loop -------------------------------------------------------------------------


def exchanges_pass(
    store: Store,
    clock: Clock,
    settings: ExchangeSettings,
    *,
    guard: Guard | None = None,
    stop: threading.Event | None = None,
) -> list[FetchReport]:
    """Fetch every enabled exchange once, then send pending feedback and publish our
    verdicts to the exchanges that take them (`publish_banks`)."""
    reports: list[FetchReport] = []
    clients: dict[str, ExchangeClient] = {}
    for name, config in settings.exchange.items():
        if not config.enabled or (stop is not None and stop.is_set()):
            continue
        try:
            client = build_client(name, config, settings, guard=guard)
        except ExchangeError as exc:
            log.warning("exchange %s: %s", name, exc)
            reports.append(FetchReport(name, error=str(exc)))
            continue
        clients[name] = client
        try:
            report = fetch(
                store, clock, name, config, client, snapshot=config.kind == "file", stop=stop
            )
        except ExchangeError as exc:  # its configuration no longer fits its row
            log.warning("exchange %s: %s", name, exc)
            reports.append(FetchReport(name, error=str(exc)))
            continue
        count_fetch(report)
        if report.error:
            log.warning("exchange %s: %s (after %d pages)", name, report.error, report.pages)
        else:
            log.info(
                "exchange %s: %d pages, %d added, %d removed",
                name,
                report.pages,
                report.added,
                report.removed,
            )
        reports.append(report)
    if clients:
        votes = send_votes(store, clock, clients, attempts=settings.exchange_vote_attempts)
        from orbweaver.ops import count

        for outcome, n in votes.items():
            count(
                "exchanges",
                "votes",
                n,
                doc="Feedback sent to exchanges, by outcome",
                outcome=outcome,
            )
        published = publish(store, clock, clients, settings)
        for outcome, n in published.items():
            count(
                "exchanges",
                "submissions",
                n,
                doc="Our verdicts published to exchanges, by outcome",
                outcome=outcome,
            )
    return reports


def count_fetch(report: FetchReport) -> None:
    """A fetch's figures into the process' metrics (`orbweaver_exchanges_*_total`)."""
    from orbweaver.ops import count

    labels = {"exchange": report.name}
    count("exchanges", "pages", report.pages, doc="Pages fetched from exchanges", **labels)
    count("exchanges", "entries_added", report.added, doc="Bank entries added", **labels)
    count("exchanges", "entries_withdrawn", report.removed, doc="Bank entries withdrawn", **labels)
    count("exchanges", "fetch_errors", int(bool(report.error)), doc="Fetches stopped", **labels)


def exchanges_loop(
    store: Store,
    clock: Clock,
    settings: ExchangeSettings,
    *,
    every_s: float,
    stop: threading.Event,
    guard: Guard | None = None,
) -> None:
    """The exchanges role: a pass every `every_s` seconds until `stop`."""
    from orbweaver.supervise import run_loop

    run_loop(
        lambda: exchanges_pass(store, clock, settings, guard=guard, stop=stop),
        every_s=every_s,
        stop=stop,
        name="exchanges",
    )
