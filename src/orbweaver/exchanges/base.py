"""What every exchange kind gives the fetch: pages of updates, each with the checkpoint that
comes after it, and (where the exchange takes it) feedback sent back.

A kind's module (`ncmec`, `stopncii`, `fb_threatexchange`, `file`) wraps python-threatexchange's
client of that exchange; `service.fetch` stores each page and its checkpoint in one
transaction, so a fetch killed at any point resumes from the last page it stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class ExchangeError(RuntimeError):
    """An exchange cannot be fetched or written to, said so an operator can act on it."""


class MalformedPage(ExchangeError):
    """The exchange answered something that is not a page of its API (cut, garbled): nothing
    of this page is stored, everything before it is, and the next fetch asks for it again."""


class FeedbackRefused(ExchangeError):
    """The exchange refused feedback for good (unknown entry, a reason it does not take)."""


@dataclass(frozen=True)
class Fingerprint:
    """One signal of an entry: our signal type and value, and the exchange's name for it."""

    signal_type: str
    signal: str
    exchange_type: str = ""


@dataclass(frozen=True)
class Update:
    """One entry as an exchange shares it now: its fingerprints, or a deletion."""

    external_id: str
    fingerprints: tuple[Fingerprint, ...] = ()
    deleted: bool = False
    member_id: str = ""
    member: str = ""
    category: str = ""
    tags: tuple[str, ...] = ()


@dataclass
class Page:
    """Updates, and the checkpoint to store with them (the next fetch starts from it)."""

    updates: list[Update]
    checkpoint: dict[str, Any]
    complete: bool = False
    """The fetch reached the end of what the exchange has now."""
    skipped: list[str] = field(default_factory=list)
    """Fingerprints refused (unknown type, malformed value), one line each."""


class SubmissionRefused(ExchangeError):
    """The exchange refused an upload for good (it takes none, or not this one)."""


@dataclass(frozen=True)
class Submission:
    """One picture our analysts confirmed, to upload: its fingerprints (the exchange's
    names: `md5`, `sha1`, `pdq`, `sha256`) and the exchange's classification (may be empty)."""

    fingerprints: dict[str, str]
    classification: str = ""


@dataclass(frozen=True)
class Vote:
    """Feedback to send: up (confirmed) or down (disputed, with a reason) on one fingerprint."""

    external_id: str
    member_id: str
    exchange_type: str
    up: bool
    reason: str = ""


class ExchangeClient(Protocol):
    """One kind's client, bound to one exchange's configuration and credentials."""

    def pages(self, checkpoint: dict[str, Any], now: datetime) -> Iterator[Page]:
        """Pages from `checkpoint` (empty: from the beginning) to what the exchange has at
        `now`; raises MalformedPage or ExchangeError."""
        ...

    def send_vote(self, vote: Vote) -> bool:
        """Send feedback; False when this exchange takes none (kept local)."""
        ...

    def submit(self, submission: Submission) -> str:
        """Upload one entry; the exchange's id of it. Raises SubmissionRefused (for good) or
        ExchangeError (try again: the exchange gives back the same entry for the same
        fingerprints, so a retry after a lost answer makes no second entry)."""
        ...
