"""The append-only event log and its catalogue of event kinds.

Every send, failure, escalation and decision leaves a row. What kinds there are is owned here:
`EventKind` names each one, `CATALOGUE` says what it is about and what its payload holds, and
`record_event` refuses a kind that is not in it, so a reader of the log (reports, an auditor)
can rely on the list in `docs/architecture.md` ("Event kinds", generated from `CATALOGUE` and
held equal to it by a test).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from orbweaver.clock import Clock
from orbweaver.store.models import Event


class EventKind(StrEnum):
    """Every kind of event the product records; the value is what the `event.kind` column holds."""

    APIKEY_CREATED = "apikey.created"
    APIKEY_REVOKED = "apikey.revoked"
    ATTRIBUTION_RESOLVED = "attribution.resolved"
    ATTRIBUTION_CONTACT_REFUSED = "attribution.contact_refused"
    BANK_CREATED = "bank.created"
    BANK_ENABLED = "bank.enabled"
    BANK_DISABLED = "bank.disabled"
    BANK_THRESHOLD_CHANGED = "bank.threshold_changed"
    BANK_IMPORTED = "bank.imported"
    BANK_ENTRIES_ADDED = "bank.entries_added"
    BANK_DISTANCE_CHANGED = "bank.distance_changed"
    BANK_ENTRY_DISABLED = "bank.entry_disabled"
    BANK_ENTRY_ENABLED = "bank.entry_enabled"
    BANK_ENTRY_QUARANTINED = "bank.entry_quarantined"
    BANK_ENTRY_RELEASED = "bank.entry_released"
    BANK_RETRO_MATCHED = "bank.retro_matched"
    EXCHANGE_FETCHED = "exchange.fetched"
    EXCHANGE_VOTED = "exchange.voted"
    EXCHANGE_VOTE_SENT = "exchange.vote_sent"
    EXCHANGE_PUBLISHED = "exchange.published"
    CRAWL_REPORT = "crawl.report"
    REPORT_RECEIVED = "report.received"
    CRAWL_BATCH = "crawl.batch"
    REVIEW_VERDICT = "review.verdict"
    NOTICE_CREATED = "notice.created"
    NOTICE_TOR_ONLY = "notice.tor_only"
    NOTICE_NO_CONTACT = "notice.no_contact"
    NOTICE_ESCALATED = "notice.escalated"
    NOTICE_RECIDIVIST = "notice.recidivist"
    NOTICE_PRECHECKED = "notice.prechecked"
    NOTICE_GONE_BEFORE_NOTICE = "notice.gone_before_notice"
    HOLD_ADDED = "hold.added"
    HOLD_RELEASED = "hold.released"
    NOTICE_REMOVED = "notice.removed"
    NOTICE_SENT = "notice.sent"
    FOLLOWUP_SENT = "followup.sent"
    ESCALATION_SENT = "escalation.sent"
    DIGEST_SENT = "digest.sent"
    DIGEST_ENQUEUED = "digest.enqueued"
    OUTBOX_RETRY = "outbox.retry"
    OUTBOX_FAILING = "outbox.failing"
    OUTBOX_FAILED = "outbox.failed"
    OUTBOX_REQUEUED = "outbox.requeued"
    OUTBOX_DROPPED = "outbox.dropped"
    OUTBOX_UNCERTAIN_RESEND = "outbox.uncertain_resend"
    MONITOR_CADENCE = "monitor.cadence"
    EVIDENCE_EXPORTED = "evidence.exported"
    EVIDENCE_PRUNED = "evidence.pruned"

    @classmethod
    def sent(cls, outbox_kind: str) -> EventKind:
        """The `<kind>.sent` event of an outbox message of `outbox_kind`."""
        return cls(f"{outbox_kind}.sent")


@dataclass(frozen=True)
class EventSpec:
    """What one kind of event is about: its subject and its payload's keys."""

    subject: str
    payload: tuple[str, ...]
    meaning: str


_SENT = ("outbox_id", "digest_outbox_id?", "round", "provider_id", "channel", "recipient")
_OUTBOX_FAILURE = ("outbox_id", "attempts", "error", "permanent", "failing_since?")

CATALOGUE: dict[EventKind, EventSpec] = {
    EventKind.APIKEY_CREATED: EventSpec(
        "api_client", ("name", "username", "scopes"), "an API client was issued a key"
    ),
    EventKind.APIKEY_REVOKED: EventSpec(
        "api_client", ("name", "username"), "an API client's key was revoked"
    ),
    EventKind.ATTRIBUTION_RESOLVED: EventSpec(
        "host", ("host", "recipient_id", "chain", "error"), "a host's provider chain was resolved"
    ),
    EventKind.ATTRIBUTION_CONTACT_REFUSED: EventSpec(
        "provider", ("source", "reason"), "an abuse contact was dropped as unusable"
    ),
    EventKind.BANK_CREATED: EventSpec("bank", ("name", "threshold", "kind?"), "a bank was created"),
    EventKind.BANK_ENABLED: EventSpec("bank", (), "a bank was switched on for matching"),
    EventKind.BANK_DISABLED: EventSpec("bank", (), "a bank was switched off for matching"),
    EventKind.BANK_THRESHOLD_CHANGED: EventSpec(
        "bank", ("threshold",), "a bank's PDQ distance threshold changed"
    ),
    EventKind.BANK_IMPORTED: EventSpec(
        "bank", ("added", "duplicates", "rejected"), "a hash list was imported into a bank"
    ),
    EventKind.BANK_ENTRIES_ADDED: EventSpec(
        "bank",
        ("bank_id", "added", "category", "item_id", "sha256"),
        "a review verdict added confirmed hashes to a bank",
    ),
    EventKind.BANK_DISTANCE_CHANGED: EventSpec(
        "bank", ("signal_type", "distance"), "a bank's match distance for one signal type changed"
    ),
    EventKind.BANK_ENTRY_DISABLED: EventSpec(
        "bank_entry", ("bank", "reason"), "one bank entry was switched off (kept, matches nothing)"
    ),
    EventKind.BANK_ENTRY_ENABLED: EventSpec(
        "bank_entry", ("bank", "reason"), "a switched-off bank entry matches again"
    ),
    EventKind.BANK_ENTRY_QUARANTINED: EventSpec(
        "bank_entry",
        ("bank", "last_hour", "baseline_per_hour"),
        "a flood of matches quarantined an entry: its detections are held, no notices",
    ),
    EventKind.BANK_ENTRY_RELEASED: EventSpec(
        "bank_entry",
        ("bank", "reason", "unheld"),
        "an analyst released a quarantined entry (its held detections may go to notices)",
    ),
    EventKind.BANK_RETRO_MATCHED: EventSpec(
        "",
        ("entries", "media", "detections", "leads"),
        "stored signals were matched against newly arrived bank entries",
    ),
    EventKind.EXCHANGE_FETCHED: EventSpec(
        "exchange",
        ("name", "pages", "added", "updated", "removed", "complete"),
        "an exchange's fetch stored pages of entries and its checkpoint",
    ),
    EventKind.EXCHANGE_VOTED: EventSpec(
        "bank_entry",
        ("vote", "reason", "exchange"),
        "an analyst confirmed (up) or disputed (down) an entry from another source",
    ),
    EventKind.EXCHANGE_VOTE_SENT: EventSpec(
        "exchange_vote",
        ("exchange", "status", "error"),
        "feedback was sent to its exchange (or refused by it for good)",
    ),
    EventKind.EXCHANGE_PUBLISHED: EventSpec(
        "exchange_submission",
        ("exchange", "status", "external_id", "error"),
        "an entry of our own bank was published to an exchange (or refused by it for good)",
    ),
    EventKind.CRAWL_REPORT: EventSpec(
        "crawl_seed", ("url",), "a public report became a crawl seed"
    ),
    EventKind.REPORT_RECEIVED: EventSpec(
        "",
        ("reference", "url", "new"),
        "the public report form took a report; the reference is what the reporter was given",
    ),
    EventKind.CRAWL_BATCH: EventSpec(
        "", ("detections", "suspects", "sightings"), "a crawl batch with hits was written"
    ),
    EventKind.REVIEW_VERDICT: EventSpec(
        "review_item",
        ("category", "severity", "via", "xarf", "media", "detections"),
        "a review item was decided",
    ),
    EventKind.NOTICE_CREATED: EventSpec(
        "notice",
        ("url", "provider_id", "recidivist", "generation"),
        "a notice was planned for a URL and its recipient",
    ),
    EventKind.NOTICE_TOR_ONLY: EventSpec(
        "notice", ("url",), "a detection reachable only over Tor: no provider to notify"
    ),
    EventKind.NOTICE_NO_CONTACT: EventSpec(
        "notice", ("provider_id",), "the recipient has no usable abuse contact"
    ),
    EventKind.NOTICE_ESCALATED: EventSpec(
        "notice", ("to_provider_id", "level"), "a notice went up the provider chain"
    ),
    EventKind.NOTICE_RECIDIVIST: EventSpec(
        "notice", ("earlier_notice_id",), "media already noticed to this provider is back"
    ),
    EventKind.NOTICE_PRECHECKED: EventSpec(
        "notice",
        ("outcome", "detail", "tries"),
        "the URL was re-checked just before its first notice: online, or sent anyway after "
        "inconclusive tries",
    ),
    EventKind.NOTICE_GONE_BEFORE_NOTICE: EventSpec(
        "notice",
        ("outcome", "detail", "http_status"),
        "the content was gone at the re-check before the first notice: removed before notice, "
        "not noticed",
    ),
    EventKind.HOLD_ADDED: EventSpec(
        "hold",
        ("scope", "value", "reason", "legal"),
        "an operator put a URL, host or case on hold (legal: evidence preserved, notices go)",
    ),
    EventKind.HOLD_RELEASED: EventSpec(
        "hold",
        ("scope", "value", "held_seconds", "notices"),
        "an operator released a hold; its notices' messages are due again",
    ),
    EventKind.NOTICE_REMOVED: EventSpec(
        "notice",
        ("removal_seconds", "last_online_at", "first_offline_at"),
        "a noticed URL was confirmed offline: its removal time",
    ),
    EventKind.NOTICE_SENT: EventSpec("notice", _SENT, "a notice's first round was delivered"),
    EventKind.FOLLOWUP_SENT: EventSpec("notice", _SENT, "a follow-up round was delivered"),
    EventKind.ESCALATION_SENT: EventSpec("notice", _SENT, "an escalation was delivered"),
    EventKind.DIGEST_SENT: EventSpec("notice", _SENT, "a daily digest was delivered"),
    EventKind.DIGEST_ENQUEUED: EventSpec(
        "provider", ("outbox_id", "day", "outbox_ids"), "a provider's digest was put in the outbox"
    ),
    EventKind.OUTBOX_RETRY: EventSpec(
        "notice", _OUTBOX_FAILURE, "a delivery failed and will be retried"
    ),
    EventKind.OUTBOX_FAILING: EventSpec(
        "outbox", ("notice_id", "error"), "a message's run of failures began"
    ),
    EventKind.OUTBOX_FAILED: EventSpec(
        "notice", _OUTBOX_FAILURE, "a delivery was given up (permanent, or failing too long)"
    ),
    EventKind.OUTBOX_REQUEUED: EventSpec(
        "outbox", ("notice_id", "attempts", "error"), "an operator put a failed message back"
    ),
    EventKind.OUTBOX_DROPPED: EventSpec(
        "notice", ("outbox_id", "reason"), "a queued message was dropped before sending"
    ),
    EventKind.OUTBOX_UNCERTAIN_RESEND: EventSpec(
        "outbox", ("reason",), "a worker died mid-exchange: resent with the same ids"
    ),
    EventKind.MONITOR_CADENCE: EventSpec(
        "",
        (
            "recheck_schedule_hours",
            "recheck_every_hours",
            "offline_confirm_misses",
            "offline_confirm_spacing_minutes",
        ),
        "the re-check cadence in force changed (the monitor's `CADENCE_FIELDS`)",
    ),
    EventKind.EVIDENCE_EXPORTED: EventSpec(
        "notice",
        ("records", "warc_sha256"),
        "a notice's evidence bundle was exported (signed WARC and manifest)",
    ),
    EventKind.EVIDENCE_PRUNED: EventSpec(
        "",
        ("pruned", "pruned_bytes", "kept_on_hold", "contacts_anonymised"),
        "retention ran: evidence records deleted (hashes kept), old contacts anonymised",
    ),
}


def catalogue_markdown() -> str:
    """The catalogue as the table `docs/architecture.md` shows under "Event kinds"."""
    lines = ["| kind | subject | payload | meaning |", "|---|---|---|---|"]
    for kind, spec in CATALOGUE.items():
        subject = f"`{spec.subject}`" if spec.subject else "-"
        payload = ", ".join(f"`{key}`" for key in spec.payload) or "-"
        lines.append(f"| `{kind.value}` | {subject} | {payload} | {spec.meaning} |")
    return "\n".join(lines) + "\n"


def record_event(
    session: Session,
    clock: Clock,
    kind: EventKind,
    *,
    subject_type: str = "",
    subject_id: int | None = None,
    actor: str = "system",
    payload: dict[str, Any] | None = None,
) -> Event:
    """Add an event to the session; it lands with the caller's transaction, never on its own.
    A kind outside the catalogue is a programming error: it raises before anything is added."""
    kind = EventKind(kind)
    row = Event(
        at=clock.now(),
        kind=kind.value,
        subject_type=subject_type,
        subject_id=subject_id,
        actor=actor,
        payload=payload or {},
    )
    session.add(row)
    return row
