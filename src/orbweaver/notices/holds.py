"""Holds: an operator's stop on alerting a site (a law-enforcement request), on a URL, a host
or a case (one notice, by id).

While a hold is active no notice, follow-up or escalation of a notice it covers goes out: the
outbox defers such messages (`gate.Gate`), planning of follow-ups skips the notice and the day's
digest leaves its messages for a later one. Monitoring goes on: re-checks are not messages.
Adding and releasing are audited (`hold.added`, `hold.released` events, with the actor).

A *legal* hold (`legal=True`) only preserves evidence: retention does not delete the records
of what it covers (`orbweaver.evidence.prune`), and its notices still go. Every hold
preserves evidence.

Held time is counted apart: on release, each notice the hold covered gets the part of the hold
it was open through added to `Notice.held_seconds` (from the later of the hold and the notice's
creation to the earlier of the release and the notice's removal). Removal time itself stays
first notice → removal (the provider had the notice throughout); reports show held time beside
it. A notice under two overlapping holds counts the overlap under each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from orbweaver.clock import Clock
from orbweaver.store import EventKind, record_event, store_now
from orbweaver.store.models import HOLD_SCOPES, Hold, Notice, Outbox


class HoldError(ValueError):
    """A hold that cannot be added or released (bad scope or value, unknown or released id)."""


@dataclass(frozen=True)
class HoldRow:
    """A hold as the CLI and the console show it."""

    id: int
    scope: str
    value: str
    reason: str
    created_by: str
    created_at: datetime
    released_by: str | None
    released_at: datetime | None
    legal: bool = False

    @classmethod
    def of(cls, h: Hold) -> HoldRow:
        return cls(
            h.id,
            h.scope,
            h.value,
            h.reason,
            h.created_by,
            h.created_at,
            h.released_by,
            h.released_at,
            bool(h.legal),
        )


def normalise(scope: str, value: str) -> str:
    """The value a hold of `scope` is matched on: a URL as given (notices name URLs as seen),
    a host in lower case without a port, a case as a notice id. Raises HoldError."""
    if scope not in HOLD_SCOPES:
        raise HoldError(f"scope must be one of {', '.join(HOLD_SCOPES)}, not {scope!r}")
    value = value.strip()
    if scope == "url":
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HoldError(f"not an http(s) URL: {value!r}")
        return value
    if scope == "host":
        host = (urlsplit(f"//{value}").hostname or "").lower()
        if not host or "/" in value:
            raise HoldError(f"not a host name: {value!r}")
        return host
    if not value.isdigit():
        raise HoldError(f"a case is a notice id (a number), not {value!r}")
    return str(int(value))


def add_hold(
    session: Session,
    clock: Clock,
    scope: str,
    value: str,
    *,
    reason: str,
    actor: str,
    legal: bool = False,
) -> HoldRow:
    """Put a URL, host or case on hold, audited; returns the hold. A `legal` hold only
    preserves the evidence (retention suspended); the others also stop its notices."""
    value = normalise(scope, value)
    if not reason.strip():
        raise HoldError("a hold needs a reason (who asked, their reference)")
    hold = Hold(
        scope=scope,
        value=value,
        reason=reason.strip()[:2000],
        created_by=actor,
        created_at=store_now(clock),
        legal=legal,
    )
    session.add(hold)
    session.flush()
    record_event(
        session,
        clock,
        EventKind.HOLD_ADDED,
        subject_type="hold",
        subject_id=hold.id,
        actor=actor,
        payload={"scope": scope, "value": value, "reason": hold.reason, "legal": legal},
    )
    return HoldRow.of(hold)


def release_hold(session: Session, clock: Clock, hold_id: int, *, actor: str) -> HoldRow:
    """Release a hold, audited: its notices' held time is counted and their deferred messages
    are due at once (unless another hold still covers them)."""
    hold = session.get(Hold, hold_id)
    if hold is None:
        raise HoldError(f"no hold {hold_id}")
    if hold.released_at is not None:
        raise HoldError(f"hold {hold_id} was already released")
    now = store_now(clock)
    hold.released_at, hold.released_by = now, actor
    notices = list(session.scalars(select(Notice).where(_covers(hold))))
    for n in notices if not hold.legal else []:  # a legal hold never delayed a message
        n.held_seconds = (n.held_seconds or 0.0) + _overlap(hold, n, now)
    session.flush()
    free = [n.id for n in notices if held_by(session, n) is None]
    if free:
        session.execute(
            update(Outbox)
            .where(Outbox.notice_id.in_(free), Outbox.status == "pending")
            .values(next_attempt_at=now)
        )
    record_event(
        session,
        clock,
        EventKind.HOLD_RELEASED,
        subject_type="hold",
        subject_id=hold.id,
        actor=actor,
        payload={
            "scope": hold.scope,
            "value": hold.value,
            "held_seconds": (now - hold.created_at).total_seconds(),
            "notices": [n.id for n in notices],
        },
    )
    return HoldRow.of(hold)


def _overlap(hold: Hold, n: Notice, now: datetime) -> float:
    """Seconds of the hold during which the notice existed and was not yet removed."""
    start = max(hold.created_at, n.created_at)
    end = min(now, n.removed_at or n.offline_confirmed_at or now)
    return max((end - start) / timedelta(seconds=1), 0.0)


def _covers(hold: Hold):  # type: ignore[no-untyped-def]
    """The SQL condition of the notices a hold covers."""
    if hold.scope == "url":
        return Notice.url == hold.value
    if hold.scope == "host":
        return Notice.host == hold.value
    return Notice.id == int(hold.value)


def held_by(session: Session, notice: Notice) -> Hold | None:
    """The active hold stopping this notice's messages, if any (the oldest; legal holds,
    which only preserve evidence, do not count)."""
    return session.scalar(
        select(Hold)
        .where(
            Hold.released_at.is_(None),
            Hold.legal.is_(False),
            or_(
                (Hold.scope == "url") & (Hold.value == notice.url),
                (Hold.scope == "host") & (Hold.value == notice.host),
                (Hold.scope == "case") & (Hold.value == str(notice.id)),
            ),
        )
        .order_by(Hold.id)
        .limit(1)
    )


def held_notice_ids(session: Session) -> set[int]:
    """Every notice an active hold stops now (holds are few; a query per hold)."""
    out: set[int] = set()
    active = select(Hold).where(Hold.released_at.is_(None), Hold.legal.is_(False))
    for hold in session.scalars(active):
        out.update(session.scalars(select(Notice.id).where(_covers(hold))))
    return out


def list_holds(session: Session, *, active_only: bool = False) -> list[HoldRow]:
    """Holds, newest first (active ones only with `active_only`)."""
    query = select(Hold).order_by(Hold.id.desc())
    if active_only:
        query = query.where(Hold.released_at.is_(None))
    return [HoldRow.of(h) for h in session.scalars(query)]
