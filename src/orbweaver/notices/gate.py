"""The gate every claimed message passes just before it leaves the outbox (issue 19).

1. **Holds** (`holds`): a message of a notice under an active hold is not sent; it goes back to
   `pending`, due again after `hold_poll_minutes` (a release makes it due at once).
2. **The re-check before the first notice**: the first round of a notice (`kind == "notice"`,
   round 1) whose URL was not yet re-checked is fetched through the monitor's guarded fetch and
   hashing (`orbweaver.monitor.precheck`), just before the message would go:
   - `online`: `Notice.prechecked_at` is set and the message goes;
   - `gone` (other content, 404/410/451): the notice becomes `gone_pre_notice` ("removed
     before notice"), its queued messages are dropped and it is counted as such in reports;
     `offline_confirmed_at` is set so content that comes back later makes a new generation;
   - `unclear` (a DNS outage, a timeout, a 5xx...: nothing learnt about the content): the
     message waits `precheck_retry_minutes` and is re-checked again, up to
     `precheck_attempts` tries; after that it is **sent anyway**. Dropping a notice because our
     resolver or the site had a bad hour would lose a removal request for content that may
     well be there; a notice about content that went meanwhile costs the provider one look,
     and the monitor then measures it like any other.

Digest members (providers who asked for daily batches) are not re-checked one by one: a hold
keeps them out of the day's digest (`digests.build_digests`), but the re-check applies only to
messages sent on their own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlalchemy.orm import Session

from orbweaver.clock import Clock
from orbweaver.notices.holds import held_by
from orbweaver.notices.settings import NoticeSettings
from orbweaver.store import EventKind, Store, record_event, store_now
from orbweaver.store.models import GONE_PRE_NOTICE, Notice, Outbox

if TYPE_CHECKING:
    from orbweaver.monitor import Precheck
    from orbweaver.net import GuardedFetcher

log = logging.getLogger(__name__)


class Verdict(StrEnum):
    GO = "go"
    HELD = "held"
    DEFERRED = "deferred"  # the re-check could not tell; tried again later
    GONE = "gone"  # removed before notice: dropped


@dataclass
class Gate:
    """Holds always; the re-check before a first notice when a fetcher is given (the notify
    role always gives one; a caller without network access to the sites passes None) and
    `precheck_enabled` is on (the default)."""

    settings: NoticeSettings
    fetcher: GuardedFetcher | None = None

    def admit(self, store: Store, clock: Clock, row_id: int) -> Verdict:
        """Whether the claimed row `row_id` may be sent now; if not, the row is put back
        (`pending`, later) or dropped, in this call's own commit."""
        with store.session() as session:
            row = session.get_one(Outbox, row_id)
            notice = session.get(Notice, row.notice_id) if row.notice_id else None
            if notice is None:
                return Verdict.GO
            if held_by(session, notice) is not None:
                row.status = "pending"
                row.next_attempt_at = store_now(clock) + timedelta(
                    minutes=self.settings.hold_poll_minutes
                )
                return Verdict.HELD
            first = row.kind == "notice" and row.round == 1 and notice.prechecked_at is None
            if not first or self.fetcher is None or not self.settings.precheck_enabled:
                return Verdict.GO
            notice_id = notice.id
        from orbweaver.monitor import precheck

        seen = precheck(store, self.fetcher, notice_id)
        with store.session() as session:
            return self._apply(session, clock, row_id, notice_id, seen)

    def _apply(
        self, session: Session, clock: Clock, row_id: int, notice_id: int, seen: Precheck
    ) -> Verdict:
        now = store_now(clock)
        notice = session.get_one(Notice, notice_id)
        row = session.get_one(Outbox, row_id)
        notice.precheck_tries += 1
        if seen.outcome == "gone":
            _gone(session, clock, notice, seen)
            return Verdict.GONE
        tries = notice.precheck_tries
        if seen.outcome == "unclear" and tries < self.settings.precheck_attempts:
            row.status = "pending"
            row.next_attempt_at = now + timedelta(minutes=self.settings.precheck_retry_minutes)
            return Verdict.DEFERRED
        notice.prechecked_at = now
        if seen.outcome == "online":
            notice.last_online_at = now
        record_event(
            session,
            clock,
            EventKind.NOTICE_PRECHECKED,
            subject_type="notice",
            subject_id=notice.id,
            payload={"outcome": seen.outcome, "detail": seen.detail[:500], "tries": tries},
        )
        return Verdict.GO


def _gone(session: Session, clock: Clock, notice: Notice, seen: Precheck) -> None:
    """Removed before notice: the notice closes unsent, its queued messages are dropped."""
    now = store_now(clock)
    notice.status = GONE_PRE_NOTICE
    notice.offline_confirmed_at = now
    notice.next_check_at = None
    notice.next_followup_at = None
    session.execute(
        update(Outbox)
        .where(Outbox.notice_id == notice.id, Outbox.status.in_(("pending", "claimed", "held")))
        .values(status="dropped", last_error=f"removed before notice: {seen.detail}"[:2000])
    )
    record_event(
        session,
        clock,
        EventKind.NOTICE_GONE_BEFORE_NOTICE,
        subject_type="notice",
        subject_id=notice.id,
        payload={
            "outcome": seen.outcome,
            "detail": seen.detail[:500],
            "http_status": seen.http_status,
        },
    )
