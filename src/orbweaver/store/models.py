"""Tables for the vocabulary of docs/architecture.md. Later stages add their own tables here.

Times are `UtcDateTime` columns (`orbweaver.store.times`): any datetime goes in, naive UTC is
stored and comes back; `orbweaver.clock.ensure_utc` turns it back into an aware datetime.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# the category vocabulary's owner; re-exported for the modules that still import it from here
from orbweaver.categories import CATEGORIES as CATEGORIES
from orbweaver.store.times import UtcDateTime, convert_on_assignment

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BigInteger ids on PostgreSQL, INTEGER (rowid alias) on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")

# `signal_type` columns are free text of at most 16 characters: the signal-type registry
# (`orbweaver.signals`, above the store) owns the names and checks values before they are stored.
NETWORKS = ("clear", "tor")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    # every datetime column is the store's UTC type, declared or inferred from `Mapped[datetime]`
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime}


convert_on_assignment(Base)


class Media(Base):
    """One file identity. Bytes are never stored here, only fingerprints."""

    __tablename__ = "media"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    sha1: Mapped[str] = mapped_column(String(40), index=True)
    md5: Mapped[str] = mapped_column(String(32), index=True)
    pdq: Mapped[str | None] = mapped_column(String(64), index=True)
    pdq_quality: Mapped[int | None] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    mime_type: Mapped[str | None] = mapped_column(String(100))
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Bank(Base):
    """A hash list: the hotline's own, an imported one, or an exchanged one."""

    __tablename__ = "bank"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    pdq_threshold: Mapped[int] = mapped_column(Integer, default=31)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    kind: Mapped[str] = mapped_column(String(16), default="positive", server_default="positive")
    """"positive" (a match is a detection) or "negative" (an allow-list: a match suppresses
    every positive match of the same media, e.g. a benign picture that collides)."""
    distances: Mapped[dict[str, int] | None] = mapped_column(JSON, default=dict)
    """Match distance per signal type, overriding the type's default (PDQ: `pdq_threshold`)."""
    entries: Mapped[list[BankEntry]] = relationship(back_populates="bank")


class BankEntry(Base):
    """One fingerprint in a bank, with its classification and where it came from."""

    __tablename__ = "bank_entry"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("bank.id"), index=True)
    signal_type: Mapped[str] = mapped_column(String(16))
    signal: Mapped[str] = mapped_column(Text)
    """A hash, or a video's vPDQ (kilobytes): unique per bank and type by its MD5 on
    PostgreSQL (migration 0011), by the import's own check everywhere."""
    category: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(200), default="")
    added_at: Mapped[datetime] = mapped_column(UtcDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    """Set: the entry matches nothing (kept for the record; `orbweaver bank entry disable`)."""
    disabled_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    quarantined_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    """Set: a flood of matches; its detections are held (no notices) until an analyst releases
    it (`orbweaver bank entry release`)."""
    member: Mapped[str] = mapped_column(String(200), default="", server_default="")
    """Who shared it at its source (an exchange's member), when it came from elsewhere."""
    tags: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    """Its source's labels (an exchange's classification, a list's unknown columns)."""
    removed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    """When its source withdrew it (an exchange's deletion): kept for the detections that
    name it, never matched again (migration 0015)."""
    bank: Mapped[Bank] = relationship(back_populates="entries")


Index("ix_bank_entry_signal", BankEntry.signal, postgresql_using="hash")
_OFF = (
    BankEntry.disabled_at.isnot(None)
    | BankEntry.quarantined_at.isnot(None)
    | BankEntry.removed_at.isnot(None)
)
# the few entries switched off, quarantined or withdrawn by their source, read by every matcher
# refresh
Index("ix_bank_entry_off", BankEntry.id, postgresql_where=_OFF, sqlite_where=_OFF)
Index(
    "ux_bank_entry_signal_md5",
    BankEntry.bank_id,
    BankEntry.signal_type,
    func.md5(BankEntry.signal),
    unique=True,
).ddl_if(dialect="postgresql")


class Exchange(Base):
    """One configured exchange (issue 17) and how far its fetch has come: the stored
    checkpoint that the next fetch resumes from. Its settings (kind, bank, address,
    credentials) are configuration, not rows; the row is created on its first fetch."""

    __tablename__ = "exchange"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    bank_id: Mapped[int] = mapped_column(ForeignKey("bank.id"), index=True)
    checkpoint: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    fetched_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")
    error_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ExchangeEntry(Base):
    """One fingerprint of one entry as an exchange shared it, with the bank entry it is:
    how a deletion (by the exchange's entry id) finds what to withdraw, and how feedback
    finds the exchange's entry of a bank entry."""

    __tablename__ = "exchange_entry"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchange.id"))
    external_id: Mapped[str] = mapped_column(String(200))
    signal_type: Mapped[str] = mapped_column(String(16))
    bank_entry_id: Mapped[int] = mapped_column(ForeignKey("bank_entry.id"), index=True)
    member_id: Mapped[str] = mapped_column(String(64), default="")
    fingerprint_type: Mapped[str] = mapped_column(String(32), default="")
    """The exchange's own name of the fingerprint (NCMEC's `PDQ`, `MD5`), for feedback."""
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


Index("ix_exchange_entry_external", ExchangeEntry.exchange_id, ExchangeEntry.external_id)


class ExchangeVote(Base):
    """An analyst's feedback on an entry from another source: confirmed (up) or disputed
    (down) with a reason; sent back to its exchange where the exchange takes feedback
    (`sent_at`), the sending retried by the exchanges role until it goes or is refused."""

    __tablename__ = "exchange_vote"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    bank_entry_id: Mapped[int] = mapped_column(ForeignKey("bank_entry.id"), index=True)
    exchange_id: Mapped[int | None] = mapped_column(ForeignKey("exchange.id"), nullable=True)
    vote: Mapped[str] = mapped_column(String(8))  # "up" | "down"
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    """`pending` (to send), `sent`, `failed` (refused for good), `local` (not sendable)."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")


class ExchangeSubmission(Base):
    """One entry of our own bank (a verdict's SHA-256 entry, standing for its picture) to
    publish to an exchange that takes submissions: the exchanges role's outbox, queued once
    per exchange and entry, sent once (`external_id`: the exchange's entry id)."""

    __tablename__ = "exchange_submission"
    __table_args__ = (UniqueConstraint("exchange_id", "bank_entry_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchange.id"))
    bank_entry_id: Mapped[int] = mapped_column(ForeignKey("bank_entry.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    """`pending` (to send), `sent`, `failed` (refused for good or out of attempts)."""
    external_id: Mapped[str] = mapped_column(String(200), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class Sighting(Base):
    """Media observed at a URL at a time."""

    __tablename__ = "sighting"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media.id"), index=True)
    url: Mapped[str] = mapped_column(Text)
    page_url: Mapped[str | None] = mapped_column(Text)
    host: Mapped[str] = mapped_column(String(255), index=True)
    network: Mapped[str] = mapped_column(String(8), default="clear")
    reached_from_tor: Mapped[bool] = mapped_column(Boolean, default=False)
    archive_url: Mapped[str | None] = mapped_column(Text)
    member_path: Mapped[str | None] = mapped_column(Text)
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    media: Mapped[Media] = relationship()


class Detection(Base):
    """A sighting whose media matched a bank entry (exact, or near with its distance)."""

    __tablename__ = "detection"
    __table_args__ = (UniqueConstraint("sighting_id", "bank_entry_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    sighting_id: Mapped[int] = mapped_column(ForeignKey("sighting.id"), index=True)
    bank_entry_id: Mapped[int] = mapped_column(ForeignKey("bank_entry.id"), index=True)
    signal_type: Mapped[str] = mapped_column(String(16))
    distance: Mapped[int] = mapped_column(Integer, default=0)
    category: Mapped[str] = mapped_column(String(32))
    detected_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    held: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """A detection of a quarantined entry: recorded, but no notice is planned for it."""
    sighting: Mapped[Sighting] = relationship()
    bank_entry: Mapped[BankEntry] = relationship()


Index("ix_detection_category_sighting", Detection.category, Detection.sighting_id)


class Suspect(Base):
    """An unmatched sighting on a site with detections, waiting for review.

    Its bytes are kept only encrypted (`ciphertext`) and only until a verdict exists.
    """

    __tablename__ = "suspect"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    sighting_id: Mapped[int] = mapped_column(ForeignKey("sighting.id"), unique=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    sighting: Mapped[Sighting] = relationship()
    media: Mapped[Media] = relationship()


class Event(Base):
    """The append-only event log: database triggers refuse UPDATE and DELETE."""

    __tablename__ = "event"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    subject_type: Mapped[str] = mapped_column(String(32), default="")
    subject_id: Mapped[int | None] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(200), default="system")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ApiClient(Base):
    """A machine client of the web API: a provider's upload pipeline, a partner hotline's tool.

    The secret is a random 256-bit token, so one SHA-256 is enough to store it safely (no slow
    password hash): every request can be checked in microseconds. Only the hash is kept.
    `scopes` says which routers the client may call (`shield`; the review console adds its own).
    """

    __tablename__ = "api_client"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Per-client rate limit overrides; None means the deployment's default.
    rate_per_minute: Mapped[int | None] = mapped_column(Integer)
    rate_burst: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ShieldLookup(Base):
    """One Shield verdict, written only when the deployment turns retention on.

    It holds the hashes and the verdict, never the bytes a client sent nor anything that
    identifies its user: enough to tell a hotline that known material reached a provider.
    """

    __tablename__ = "shield_lookup"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("api_client.id"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    endpoint: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    sha1: Mapped[str | None] = mapped_column(String(40))
    pdq: Mapped[str | None] = mapped_column(String(64))
    classification: Mapped[str] = mapped_column(String(32))
    match_type: Mapped[str | None] = mapped_column(String(8))
    entry_ids: Mapped[list[int]] = mapped_column(JSON, default=list)


# --- Takedown (issue 5): providers, attribution, notices, outbox, checks -----------------------


class Provider(Base):
    """An organisation that can act on content: one row however many addresses and domains.

    `name` is how the seed names providers (its own name, else its terms of service, else its
    domain), so reports line up with Table 1.0 without a mapping step.
    """

    __tablename__ = "provider"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    service_type: Mapped[str] = mapped_column(String(32), default="hosting_provider")
    abuse_email: Mapped[str | None] = mapped_column(String(320))
    webhook_url: Mapped[str | None] = mapped_column(Text)
    # Providers who asked for one message a day listing their open notices.
    digest: Mapped[bool] = mapped_column(Boolean, default=False)
    rdap_handle: Mapped[str | None] = mapped_column(String(100))
    asn: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ProviderAlias(Base):
    """A domain, network (CIDR), ASN or RDAP handle that belongs to a provider."""

    __tablename__ = "provider_alias"
    __table_args__ = (UniqueConstraint("kind", "value"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("provider.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(255))


class AttributionCache(Base):
    """The resolved chain for one host, kept until `expires_at` so DNS and RDAP are not
    queried for every detection."""

    __tablename__ = "attribution_cache"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    host: Mapped[str] = mapped_column(String(255), unique=True)
    resolved_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    addresses: Mapped[list[str]] = mapped_column(JSON, default=list)
    # [{"role": ..., "provider_id": ..., "contact": ...}, ...] from the site outwards.
    chain: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    recipient_provider_id: Mapped[int | None] = mapped_column(ForeignKey("provider.id"))
    tor_only: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)
    # The hosting country: RDAP's `country` for the network of the host's first address
    # (ISO 3166 alpha-2; None unknown). Reports break removal times down by it.
    country: Mapped[str | None] = mapped_column(String(2))


class WellbeingPolicy(Base):
    """The organisation's wellbeing policy as an administrator set it in the console (one row,
    id 1). Absent, the deployment's settings apply; present, it can only be stricter than them
    (`ReviewService.set_policy`)."""

    __tablename__ = "wellbeing_policy"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    blur: Mapped[bool] = mapped_column(Boolean)
    greyscale: Mapped[bool] = mapped_column(Boolean)
    exposure_cap_hours: Mapped[float] = mapped_column(Float)
    break_minutes: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_by: Mapped[str] = mapped_column(String(200))


class ProviderOverride(Base):
    """An operator's decision: send notices for this domain or network to this provider."""

    __tablename__ = "provider_override"
    __table_args__ = (UniqueConstraint("kind", "pattern"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    pattern: Mapped[str] = mapped_column(String(255))
    provider_id: Mapped[int] = mapped_column(ForeignKey("provider.id"), index=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


# Notice.status of content gone at the re-check just before its first notice ("removed before
# notice"): never noticed, counted apart by reports. Set by `notices/gate.py`.
GONE_PRE_NOTICE = "gone_pre_notice"


class Notice(Base):
    """One removal request for one URL (a media URL, or an archive URL) to one provider.

    `generation` counts how many times the same URL came back to the same provider after a
    confirmed removal; with the URL and the provider it makes the notice unique. Times of the
    monitor's interval estimator are kept as observed (`last_online_at`, `first_offline_at`)
    so reports can treat removal as interval-censored.
    """

    __tablename__ = "notice"
    __table_args__ = (UniqueConstraint("url", "provider_id", "generation"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16), default="media")
    host: Mapped[str] = mapped_column(String(255), index=True)
    network: Mapped[str] = mapped_column(String(8), default="clear")
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("provider.id"), index=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    report_id: Mapped[str] = mapped_column(String(36), unique=True)
    category: Mapped[str] = mapped_column(String(32))
    chain: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    recidivist: Mapped[bool] = mapped_column(Boolean, default=False)
    recidivist_of_id: Mapped[int | None] = mapped_column(BigInteger)
    rounds_sent: Mapped[int] = mapped_column(Integer, default=0)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    first_sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    next_followup_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    next_check_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    checks_done: Mapped[int] = mapped_column(Integer, default=0)
    miss_count: Mapped[int] = mapped_column(Integer, default=0)
    last_online_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    first_offline_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    offline_confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    removed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The re-check just before the first notice (issue 19): when the content was confirmed
    # online (or sent anyway after `precheck_attempts` inconclusive tries), and the tries so far.
    prechecked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    precheck_tries: Mapped[int] = mapped_column(Integer, default=0)
    # Seconds this notice spent under an operator's hold (`Hold`), counted apart from removal.
    held_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    provider: Mapped[Provider | None] = relationship()
    items: Mapped[list[NoticeItem]] = relationship(back_populates="notice")


class NoticeItem(Base):
    """A detection a notice covers (an archive notice lists one per matched member)."""

    __tablename__ = "notice_item"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notice.id"), index=True)
    detection_id: Mapped[int] = mapped_column(ForeignKey("detection.id"), unique=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media.id"), index=True)
    member_path: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(32))
    explanation: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """Why it matched, for the internal record (never sent): bank, entry id, source (member and
    tags where known), signal type, distance."""
    notice: Mapped[Notice] = relationship(back_populates="items")
    media: Mapped[Media] = relationship()


class Outbox(Base):
    """One message to send. `key` is unique per (URL, provider, generation, round), so planning
    twice or crashing and restarting can never create a second message for the same round."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("notice.id"), index=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("provider.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    round: Mapped[int] = mapped_column(Integer, default=1)
    channel: Mapped[str] = mapped_column(String(8))
    recipient: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    xarf: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Check(Base):
    """One re-check of a noticed URL. An `offline` outcome is `confirmed` only after the
    configured number of consecutive misses; unconfirmed ones are single misses."""

    __tablename__ = "recheck"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notice.id"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    outcome: Mapped[str] = mapped_column(String(8))
    confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    http_status: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="")


HOLD_SCOPES = ("url", "host", "case")


class Hold(Base):
    """An operator's hold (a law-enforcement request not to alert the site) on a URL, a host
    or a case (one notice, by id): no notice, follow-up or escalation goes out while it is
    active (`released_at` empty); monitoring goes on. Added and released through the audited
    `notices.holds` service only."""

    __tablename__ = "hold"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    scope: Mapped[str] = mapped_column(String(8))
    value: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    released_by: Mapped[str | None] = mapped_column(String(255))
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    # A legal hold only preserves evidence (suspends its deletion); notices still go out.
    # Every hold preserves evidence; only the others also stop notices.
    legal: Mapped[bool] = mapped_column(Boolean, default=False)


class EvidenceRecord(Base):
    """What the crawl saw when it made a detection, as WARC records (gzip members, `warc`):
    kind `page` (the page's request and response, its HTML) or `media` (the media fetch's
    request, and its response headers with the media's hashes and size as a metadata record:
    never the media's bytes). Written in the crawl's batch transaction, for detections only.
    `sha256` is of `warc` as written; once pruned (`pruned_at`), `warc` is gone and the hash
    and size stay, so counts and the record of what was held remain."""

    __tablename__ = "evidence_record"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    sighting_id: Mapped[int] = mapped_column(ForeignKey("sighting.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    url: Mapped[str] = mapped_column(Text)
    captured_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    warc: Mapped[bytes | None] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    pruned_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


# --- end of takedown tables ---


# --- Review (issue 6): analysts, their sessions, the queue, assessments, verdicts, audit log ---

REVIEW_ROLES = ("analyst", "senior_analyst", "administrator")
SEVERITIES = ("sex_act", "lascivious_exhibition")


class ReviewUser(Base):
    """A person using the console. Wellbeing settings are per user and on by default."""

    __tablename__ = "review_user"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    blur: Mapped[bool] = mapped_column(Boolean, default=True)
    greyscale: Mapped[bool] = mapped_column(Boolean, default=True)
    mute_video: Mapped[bool] = mapped_column(Boolean, default=True)
    # Single-key shortcuts on the item page (WCAG 2.1.4: a user can turn them off).
    shortcuts: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Second factor: the TOTP secret (base32) once enrolled, and the last time step used, so
    # a code cannot be replayed.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    password_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class WebSession(Base):
    """A console login. Only the SHA-256 of the cookie token is stored; the CSRF token is
    per session (synchroniser pattern)."""

    __tablename__ = "web_session"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("review_user.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Last request seen, for the idle timeout (written at most once a minute).
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ReviewItem(Base):
    """One queue item per media (sha256), however many suspect sightings it has.

    `priority` is precomputed on every write that changes its inputs, so serving the next item
    is one index scan rather than a sort over the whole backlog; `reasons` explains it.
    `group_id` points at the item a perceptual near-duplicate was grouped with.
    """

    __tablename__ = "review_item"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media.id"), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="open")
    priority: Mapped[int] = mapped_column(BigInteger, default=0)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("review_item.id"), index=True)
    group_distance: Mapped[int | None] = mapped_column(Integer)
    sightings: Mapped[int] = mapped_column(Integer, default=0)
    host_detections: Mapped[int] = mapped_column(Integer, default=0)
    pdq_distance: Mapped[int | None] = mapped_column(Integer)
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    assessments: Mapped[int] = mapped_column(Integer, default=0)
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # A short lease: the analyst "next" last served this item to (a review_user id), until
    # when; others are served the following item meanwhile. Advisory, so no foreign key.
    claimed_by: Mapped[int | None] = mapped_column(Integer)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    media: Mapped[Media] = relationship()


Index(
    "ix_review_item_queue",
    ReviewItem.status,
    ReviewItem.priority.desc(),
    ReviewItem.first_seen_at,
    ReviewItem.id,
)


class Assessment(Base):
    """One analyst's classification of one item; one per analyst and item, never edited."""

    __tablename__ = "review_assessment"
    __table_args__ = (UniqueConstraint("item_id", "user_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("review_item.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("review_user.id"), index=True)
    category: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ReviewSkip(Base):
    """An analyst passed over an item (skip, defer, "n" on its page): "next" does not serve it
    to them again before `until`; others still get it."""

    __tablename__ = "review_skip"
    __table_args__ = (UniqueConstraint("item_id", "user_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("review_item.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("review_user.id"), index=True)
    until: Mapped[datetime] = mapped_column(UtcDateTime)


class Verdict(Base):
    """The decision on an item: by consensus of assessments, or by a senior's adjudication."""

    __tablename__ = "review_verdict"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("review_item.id"), unique=True)
    category: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str | None] = mapped_column(String(32))
    via: Mapped[str] = mapped_column(String(16))
    decided_by: Mapped[str] = mapped_column(String(64))
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AllowListEntry(Base):
    """Hashes judged not actionable: media carrying them never enter the queue again."""

    __tablename__ = "review_allow"
    __table_args__ = (UniqueConstraint("signal_type", "signal"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    signal_type: Mapped[str] = mapped_column(String(16))
    signal: Mapped[str] = mapped_column(String(128))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("review_item.id"))
    added_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ExposureDay(Base):
    """Seconds of image exposure per analyst and (UTC) day, checked against the daily cap."""

    __tablename__ = "review_exposure"
    __table_args__ = (UniqueConstraint("user_id", "day"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("review_user.id"))
    day: Mapped[str] = mapped_column(String(10))
    seconds: Mapped[int] = mapped_column(Integer, default=0)


class AuditEntry(Base):
    """Who saw or decided what: append-only (database triggers refuse UPDATE, DELETE and, on
    PostgreSQL, TRUNCATE), each row chained to the one before by hash."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32), default="")
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject_type: Mapped[str] = mapped_column(String(32), default="")
    subject_id: Mapped[int | None] = mapped_column(BigInteger)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Tamper evidence: the previous row's hash, and this row's over it and its own fields
    # (`orbweaver.review.audit.row_hash`); `orbweaver audit verify` walks the chain.
    prev_sha256: Mapped[str | None] = mapped_column(String(64))
    sha256: Mapped[str | None] = mapped_column(String(64))


# --- crawl (issue 4) -------------------------------------------------------------------------


class CrawlSeed(Base):
    """A URL to start crawling from: given on the command line, in a file, or reported by the
    public (`source` = "report", with who reported it). `fetched_at` stays empty until the crawl
    has fetched it, so a restarted crawl picks up seeds it never reached."""

    __tablename__ = "crawl_seed"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    url_hash: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(16), default="cli", index=True)
    reporter: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    fetched_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)


class CrawlPage(Base):
    """A page that linked media: re-crawled on a schedule, so new uploads are found."""

    __tablename__ = "crawl_page"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    # sha256(url)[:16], raw (issue 22: 16 bytes in the row and its unique index, not 64 hex)
    url_key: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    host: Mapped[str] = mapped_column(String(255))
    network: Mapped[str] = mapped_column(String(8), default="clear")
    reached_from_tor: Mapped[bool] = mapped_column(Boolean, default=False)
    depth: Mapped[int] = mapped_column(Integer, default=0)
    media_links: Mapped[int] = mapped_column(Integer, default=0)
    crawl_count: Mapped[int] = mapped_column(Integer, default=1)
    first_crawled_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_crawled_at: Mapped[datetime] = mapped_column(UtcDateTime)
    next_crawl_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)


class MediaTask(Base):
    """One media or archive URL a page linked, waiting for a media worker (the media queue on
    the local store, when no Redis is configured). Claimed with a lease in the machine's real
    time (process pacing, not domain time): a worker killed mid-fetch leaves its claims to
    expire and be claimed again. Deleted in the transaction that writes its sightings."""

    __tablename__ = "crawl_media_queue"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(8), default="media")  # media | archive
    page_url: Mapped[str | None] = mapped_column(Text)
    via_tor: Mapped[bool] = mapped_column(Boolean, default=False)
    passwords: Mapped[list[str]] = mapped_column(JSON, default=list)
    enqueued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[float] = mapped_column(Float, default=0.0, index=True)
    # Batches with this entry that the store refused (not an outage): each pushes the next try
    # further away, and after `media_max_attempts` the entry goes to the dead letters.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)


class MediaDeadLetter(Base):
    """A media queue entry set aside: the store refused every batch it was in
    (`media_max_attempts` times, with backoff between), so it no longer holds up the queue.
    `orbweaver media-dead-letters` lists them and puts them back (`--replay`)."""

    __tablename__ = "crawl_media_dead"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(8), default="media")
    page_url: Mapped[str | None] = mapped_column(Text)
    via_tor: Mapped[bool] = mapped_column(Boolean, default=False)
    passwords: Mapped[list[str]] = mapped_column(JSON, default=list)
    enqueued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    dead_at: Mapped[datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)


# --- compact storage (issue 22): what matched nothing on hosts without detections -----------


class MediaSignalBlock(Base):
    """Signals of media kept without a sighting, packed 60 bytes a media
    (`orbweaver.store.compact`): one loose block a crawl batch, merged by `db maintain` into
    sorted, deduplicated blocks whose `lo`..`hi` range finds a sha256."""

    __tablename__ = "media_signal_block"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    compacted: Mapped[bool] = mapped_column(Boolean, default=False)
    n: Mapped[int] = mapped_column(Integer)
    lo: Mapped[bytes] = mapped_column(LargeBinary, index=True)
    hi: Mapped[bytes] = mapped_column(LargeBinary)
    records: Mapped[bytes] = mapped_column(LargeBinary)
    # a Bloom filter of the block's keys (compacted blocks; `store.compact.bloom_of`)
    bloom: Mapped[bytes | None] = mapped_column(LargeBinary)


class MediaVideoBlock(Base):
    """The vPDQ frames of videos the crawl fetched (`orbweaver.store.compact`, issue 16), so
    retroactive matching of videos works when a list grows: variable-length records (a
    video's sha256 prefix, its frame count, then 37 bytes a frame), one loose block a crawl
    batch, merged by `db maintain` into sorted blocks deduplicated by sha256 (`lo`..`hi`)."""

    __tablename__ = "media_video_block"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    compacted: Mapped[bool] = mapped_column(Boolean, default=False)
    n: Mapped[int] = mapped_column(Integer)
    lo: Mapped[bytes] = mapped_column(LargeBinary, index=True)
    hi: Mapped[bytes] = mapped_column(LargeBinary)
    records: Mapped[bytes] = mapped_column(LargeBinary)


class CrawlSeen(Base):
    """Unmatched media URLs seen on a host in one batch, 8 bytes each, for re-crawls; kept for
    a retention period. On PostgreSQL partitioned by day on `seen_at` (`db maintain` drops old
    partitions), hence `seen_at` in the key; the key starts with the host, the lookup a re-crawl
    makes (on SQLite the table is that key's b-tree: WITHOUT ROWID, no second copy); `id` is
    random, from the writer (two processes may write the same host at the same instant)."""

    __tablename__ = "crawl_seen"
    __table_args__ = ({"postgresql_partition_by": "RANGE (seen_at)", "sqlite_with_rowid": False},)

    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(Integer)
    url_hashes: Mapped[bytes] = mapped_column(LargeBinary)


class CrawlHostDay(Base):
    """Pictures fetched and pictures that matched nothing, per host and UTC day (reports)."""

    __tablename__ = "crawl_host_day"

    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    fetched: Mapped[int] = mapped_column(BigInteger, default=0)
    unmatched: Mapped[int] = mapped_column(BigInteger, default=0)


class CrawlErrorDay(Base):
    """Crawl failures per kind and UTC day (the console's crawl page): what the crawl's
    processes also count in `orbweaver_errors_total{stage="crawl"}`, kept past their lifetime."""

    __tablename__ = "crawl_error_day"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
