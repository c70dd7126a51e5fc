"""The review console's use cases, one transaction each, shared by the HTML pages and the API.

Everything an analyst can do goes through here, so both interfaces enforce the same rules:
who may see which image, the exposure cap, consensus, and the audit trail.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from orbweaver.banks import (
    BankError,
    ensure_bank,
    explain_entries,
    export_csv,
    import_csv,
    list_banks,
    match_new_entries,
    release_entry,
    set_distance,
    set_enabled,
    set_entry_enabled,
)
from orbweaver.categories import NOT_ACTIONABLE
from orbweaver.clock import Clock
from orbweaver.review import accounts, decisions, exposure, imaging
from orbweaver.review.accounts import Principal
from orbweaver.review.audit import audit, read_audit
from orbweaver.review.errors import Busy, Forbidden, NotFound, ReviewError
from orbweaver.review.logins import UNKNOWN, FailedLogins
from orbweaver.review.queue import ReviewQueue, SyncReport, next_item_query
from orbweaver.review.settings import ReviewSettings
from orbweaver.store import Store, Vault, store_now, store_time
from orbweaver.store.models import (
    Assessment,
    AuditEntry,
    Bank,
    BankEntry,
    Detection,
    Media,
    NoticeItem,
    ReviewItem,
    ReviewSkip,
    ReviewUser,
    Sighting,
    Suspect,
    Verdict,
    WebSession,
    WellbeingPolicy,
)

log = logging.getLogger(__name__)

FRAME_REVEAL_EXPOSURE_S = 5
"""Seconds of the daily exposure cap one revealed video frame costs (beside the heartbeat)."""


@dataclass(frozen=True)
class SightingView:
    url: str
    page_url: str | None
    host: str
    network: str
    archive_url: str | None
    member_path: str | None
    seen_at: datetime


@dataclass(frozen=True)
class AssessmentView:
    username: str
    category: str
    severity: str | None
    at: datetime


@dataclass
class ItemView:
    """Everything the item page and the API's item resource show (never the bytes)."""

    id: int
    status: str
    sha256: str
    pdq: str | None
    mime_type: str | None
    priority: int
    reasons: list[str]
    sightings: list[SightingView]
    pages: list[str]
    near_duplicates: list[tuple[int, str, int | None]]
    assessments: list[AssessmentView] = field(default_factory=list)
    verdict: str | None = None
    is_video: bool = False
    has_image: bool = False
    # This user's own assessment, what they may do with the item ("assess", "adjudicate" or
    # "": nothing, so the page offers no image and no form), notes and escalations written
    # on it, and the notices its verdict led to.
    mine: AssessmentView | None = None
    may: str = ""
    notes: list[NoteView] = field(default_factory=list)
    notices: list[int] = field(default_factory=list)
    matches: list[dict[str, object]] = field(default_factory=list)
    """Bank entries its media matched (a retroactive match, say), each explained: bank, entry
    id, source (member and tags where known), signal type, best distance, held or not."""


@dataclass(frozen=True)
class NoteView:
    username: str
    at: datetime
    action: str
    text: str


@dataclass(frozen=True)
class DecisionView:
    """One of a user's decisions, for their "my decisions" page."""

    item_id: int
    role: str  # "assessment" or "adjudication"
    category: str
    severity: str | None
    at: datetime
    status: str
    verdict: str | None
    notices: list[int]


PRINCIPAL_TTL_S = 5.0
NOTE_MAX = 2000
SEEN_ACTIONS = ("image.view", "image.reveal")
NOTE_ACTIONS = ("item.note", "item.escalated")


def _at(address: str) -> dict[str, object]:
    return {"address": address} if address else {}


class ReviewService:
    """One per process: it holds the queue's in-memory PDQ sets and the vault key."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        settings: ReviewSettings | None = None,
        *,
        vault_key: str = "",
        vault_retired_key: str = "",
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings or ReviewSettings()
        self.vault = Vault(vault_key, retired=vault_retired_key) if vault_key else None
        self.queue = ReviewQueue(store, clock, self.settings, open_bytes=self._media_bytes)
        self._sync_lock = threading.Lock()
        self._monotonic = monotonic
        self._last_sync = float("-inf")
        self._principals: dict[str, tuple[float, Principal | None]] = {}
        self._bank_id: int | None = None
        self._hashing = threading.BoundedSemaphore(
            max(1, self.settings.review_login_hash_concurrency)
        )
        self._failures = FailedLogins()

    # --- accounts -----------------------------------------------------------------------

    def login(
        self, username: str, password: str, *, code: str = "", address: str = ""
    ) -> tuple[str, str] | None:
        """(session token, csrf token), or None; both outcomes are audited (failures counted,
        see `review.logins`). At most `review_login_hash_concurrency` passwords are checked
        at once; past `review_login_wait_s` in line the login is refused with `Busy`."""
        if not self._hashing.acquire(timeout=self.settings.review_login_wait_s):
            raise Busy("too many logins at once; try again in a moment")
        try:
            with self.store.session() as s:
                user = accounts.authenticate(s, username, password)
                if user is not None and not self._second_factor(user, code):
                    user = None
                if user is None:
                    self._failed_login(s, username, address)
                    return None
                audit(s, self.clock, accounts.principal_of(user), "login", detail=_at(address))
                return accounts.open_session(
                    s, self.clock, user, self.settings.review_session_hours
                )
        finally:
            self._hashing.release()

    def _second_factor(self, user: ReviewUser, code: str) -> bool:
        """Whether the login may go on: a valid TOTP code from an enrolled user; a user whose
        role needs one and who has none is refused with the way to get one."""
        if user.totp_secret:
            return accounts.check_totp(user, code, self.clock.now())
        if user.role in self.settings.totp_roles:
            raise Forbidden(
                f"a second factor is required for the {user.role.replace('_', ' ')} role: "
                "ask an administrator to enrol you (orbweaver user totp NAME)"
            )
        return True

    def change_password(self, token: str, current: str, new: str) -> None:
        """The session's user changes their password; every session of theirs ends."""
        with self.store.session() as s:
            found = accounts.resolve_session(s, self.clock, token)
            if found is None:
                raise Forbidden("log in first")
            user = found[0]
            if not accounts.password_ok(user, current):
                raise Forbidden("the current password is wrong")
            accounts.change_password(s, self.clock, user, new)
            audit(s, self.clock, accounts.principal_of(user), "password.changed")

    def users(self) -> list[dict[str, object]]:
        """Every console user, for the administrators' page (never a secret)."""
        with self.store.session() as s:
            live = dict(
                s.execute(
                    sa.select(WebSession.user_id, sa.func.count())
                    .where(
                        WebSession.revoked_at.is_(None),
                        WebSession.expires_at > store_now(self.clock),
                    )
                    .group_by(WebSession.user_id)
                ).all()
            )
            return [
                {
                    "username": u.username,
                    "role": u.role,
                    "enabled": u.enabled,
                    "totp": bool(u.totp_secret),
                    "last_login_at": u.last_login_at,
                    "sessions": live.get(u.id, 0),
                }
                for u in s.scalars(sa.select(ReviewUser).order_by(ReviewUser.username))
            ]

    def add_user(self, who: Principal, username: str, role: str, *, reason: str = "") -> str:
        """An administrator adds a console user (audited, with the reason); returns a random
        first password, shown once to the administrator and never stored in clear: the user
        changes it on the console's Password page."""
        import secrets

        if not who.has("administrator"):
            raise Forbidden("only administrators add users")
        password = secrets.token_urlsafe(15)  # 20 characters, 120 bits
        with self.store.session() as s:
            user = accounts.add_user(s, self.clock, username.strip(), role, password)
            audit(
                s,
                self.clock,
                who,
                "user.added",
                subject_type="review_user",
                subject_id=user.id,
                detail={"username": user.username, "role": role, **_reason(reason)},
            )
        return password

    def manage_user(self, who: Principal, username: str, action: str, *, reason: str = "") -> None:
        """An administrator disables, enables or ends the sessions of a user (audited)."""
        if not who.has("administrator"):
            raise Forbidden("only administrators manage users")
        if action not in ("disable", "enable", "revoke"):
            raise NotFound(f"no user action {action!r}")
        with self.store.session() as s:
            user = s.scalar(sa.select(ReviewUser).where(ReviewUser.username == username))
            if user is None:
                raise NotFound(f"no user {username!r}")
            if action == "disable" and user.id == who.id:
                raise Forbidden("you cannot disable yourself")
            if action in ("disable", "revoke"):
                accounts.revoke_sessions(s, self.clock, user.id)
            if action != "revoke":
                user.enabled = action == "enable"
            audit(
                s,
                self.clock,
                who,
                f"user.{action}",
                subject_type="review_user",
                subject_id=user.id,
                detail={"username": username, **_reason(reason)},
            )
        self._principals.pop(username, None)

    def login_throttled(self, username: str, address: str) -> None:
        """A login refused before its password was checked (too many tries): counted too."""
        with self.store.session() as s:
            self._failed_login(s, username, address, throttled=True)

    def _failed_login(
        self, s: Session, username: str, address: str, *, throttled: bool = False
    ) -> None:
        known = s.scalar(sa.select(ReviewUser.username).where(ReviewUser.username == username))
        now = store_time(self.clock.now())
        for row in self._failures.record(known or UNKNOWN, address, now, throttled=throttled):
            audit(s, self.clock, row.actor, "login.failed", detail=row.detail)

    def resolve(self, token: str) -> tuple[Principal, str] | None:
        with self.store.session() as s:
            found = accounts.resolve_session(
                s, self.clock, token, idle_minutes=self.settings.review_idle_minutes
            )
            return None if found is None else (accounts.principal_of(found[0]), found[1].csrf_token)

    def logout(self, token: str) -> None:
        with self.store.session() as s:
            accounts.close_session(s, self.clock, token)

    def principal(self, username: str) -> Principal | None:
        """The enabled user an API client acts for (the client's name is the username).

        Cached for `PRINCIPAL_TTL_S` per process, as API keys are (`orbweaver.access`): a disabled
        user or a changed role takes effect within that, without a query on every call."""
        now = self._monotonic()
        hit = self._principals.get(username)
        if hit is not None and hit[0] > now:
            return hit[1]
        with self.store.session() as s:
            user = s.scalar(sa.select(ReviewUser).where(ReviewUser.username == username))
            found = accounts.principal_of(user) if user and user.enabled else None
        if len(self._principals) >= 10_000:
            self._principals.clear()
        self._principals[username] = (now + PRINCIPAL_TTL_S, found)
        return found

    def set_wellbeing(
        self, who: Principal, *, blur: bool, greyscale: bool, mute: bool, shortcuts: bool = True
    ) -> None:
        """A user's own wellbeing and accessibility settings (the policy may enforce more)."""
        self._principals.pop(who.username, None)
        with self.store.session() as s:
            accounts.set_wellbeing(
                s, who.id, blur=blur, greyscale=greyscale, mute_video=mute, shortcuts=shortcuts
            )
            audit(
                s,
                self.clock,
                who,
                "settings.wellbeing",
                detail={
                    "blur": blur,
                    "greyscale": greyscale,
                    "mute_video": mute,
                    "shortcuts": shortcuts,
                },
            )

    # --- queue --------------------------------------------------------------------------

    def sync(self) -> SyncReport:
        """Ingest every pending suspect; concurrent callers wait rather than double the work."""
        with self._sync_lock:
            self._last_sync = self._monotonic()
            return self.queue.sync()

    def sync_if_due(self) -> SyncReport | None:
        """The serving path's ingest: at most once per `review_sync_interval_seconds`, bounded
        to `review_sync_web_batches` batches, and skipped (not waited for) while another
        request is syncing, so a backlog never makes every request slow."""
        if self._monotonic() - self._last_sync < self.settings.review_sync_interval_seconds:
            return None
        if not self._sync_lock.acquire(blocking=False):
            return None
        try:
            self._last_sync = self._monotonic()
            return self.queue.sync(max_batches=self.settings.review_sync_web_batches)
        finally:
            self._sync_lock.release()

    def next_item(self, who: Principal) -> int | None:
        """The id of the highest-priority open item this analyst has not assessed."""
        with self.store.session() as s:
            query = next_item_query(who.id, self.clock.now())
            return s.scalar(query.with_only_columns(ReviewItem.id))

    def next_view(self, who: Principal) -> ItemView | None:
        """The next item with everything the item resource shows, claimed for this analyst for
        `review_claim_minutes`: one transaction of three queries (the item with its media,
        verdict and stored-bytes flag; near-duplicates; sightings) and the claim's update."""
        now = self.clock.now()
        query = _with_details(next_item_query(who.id, now))
        with self.store.session() as s:
            # Rows another analyst's "next" is claiming right now are skipped, not waited for.
            row = s.execute(query.with_for_update(of=ReviewItem, skip_locked=True)).first()
            if row is None:
                return None
            if self.store.dialect == "postgresql":
                # The claim is advisory: losing it in a crash is harmless, so its commit need
                # not wait for the WAL flush (the tail of "next" on a busy disk).
                s.execute(sa.text("SET LOCAL synchronous_commit TO OFF"))
            item = row[0]
            item.claimed_by = who.id
            item.claimed_until = now + timedelta(minutes=self.settings.review_claim_minutes)
            view = self._view(s, who, row)
            view.may = "assess"  # "next" serves only open items this user has not assessed
            return view

    def serve_next(self, who: Principal) -> ItemView | None:
        """What "next" does for an analyst: a throttled, bounded ingest, the next item, and a
        full ingest only when nothing is waiting for them (suspects a crawl just found)."""
        self.sync_if_due()
        view = self.next_view(who)
        if view is None and self.sync().suspects:
            view = self.next_view(who)
        return view

    def top(self, *, limit: int = 50, status: str = "open") -> list[ReviewItem]:
        with self.store.session() as s:
            return self.queue.top(s, limit=limit, status=status)

    def counts(self) -> dict[str, int]:
        with self.store.session() as s:
            rows = s.execute(
                sa.select(ReviewItem.status, sa.func.count()).group_by(ReviewItem.status)
            ).all()
        return {status: int(n) for status, n in rows}

    def item(self, who: Principal, item_id: int) -> ItemView:
        with self.store.session() as s:
            row = s.execute(
                _with_details(sa.select(ReviewItem).where(ReviewItem.id == item_id))
            ).first()
            if row is None:
                raise NotFound(f"no review item {item_id}")
            return self._view(s, who, row, own=True)

    def _view(
        self,
        s: Session,
        who: Principal,
        row: sa.Row[ReviewItem, str, str | None, str | None, str | None, bool],
        *,
        own: bool = False,
    ) -> ItemView:
        """The item resource; with `own`, also this user's part in it (their assessment, what
        they may do, notes, notices): the item page's, not "next"'s (two more queries)."""
        item, sha256, pdq, mime_type, verdict, has_image = row
        members = s.execute(
            sa.select(ReviewItem.id, Media.sha256, ReviewItem.group_distance, ReviewItem.media_id)
            .join(Media, Media.id == ReviewItem.media_id)
            .where(ReviewItem.group_id == item.id)
        ).all()
        sightings = [
            SightingView(*r)
            for r in s.execute(
                sa.select(
                    Sighting.url,
                    Sighting.page_url,
                    Sighting.host,
                    Sighting.network,
                    Sighting.archive_url,
                    Sighting.member_path,
                    Sighting.seen_at,
                )
                .where(Sighting.media_id.in_([item.media_id, *(m[3] for m in members)]))
                .order_by(Sighting.seen_at.desc())
                .limit(200)
            )
        ]
        view = ItemView(
            matches=_matches(s, [item.media_id, *(m[3] for m in members)]),
            id=item.id,
            status=item.status,
            sha256=sha256,
            pdq=pdq,
            mime_type=mime_type,
            priority=item.priority,
            reasons=list(item.reasons),
            sightings=sightings,
            pages=sorted({v.page_url for v in sightings if v.page_url}),
            near_duplicates=[(m[0], m[1], m[2]) for m in members],
            verdict=verdict,
            is_video=imaging.is_video(mime_type),
            has_image=bool(has_image),
        )
        if own:
            self._own_part(s, who, item, view)
        # Seniors see who said what (to adjudicate); analysts do not, to stay independent.
        if who.has("senior_analyst"):
            view.assessments = [
                AssessmentView(u, c, sev, at)
                for u, c, sev, at in s.execute(
                    sa.select(
                        ReviewUser.username,
                        Assessment.category,
                        Assessment.severity,
                        Assessment.created_at,
                    )
                    .join(ReviewUser, ReviewUser.id == Assessment.user_id)
                    .where(Assessment.item_id == item.id)
                    .order_by(Assessment.id)
                )
            ]
        return view

    def _own_part(self, s: Session, who: Principal, item: ReviewItem, view: ItemView) -> None:
        """What this user did and may do with the item, its notes, and its notices."""
        mine = s.execute(
            sa.select(Assessment.category, Assessment.severity, Assessment.created_at).where(
                Assessment.item_id == item.id, Assessment.user_id == who.id
            )
        ).first()
        view.mine = None if mine is None else AssessmentView(who.username, *mine)
        if mine is None and item.status == "open":
            view.may = "assess"
        elif mine is None and item.status == "adjudication" and who.has("senior_analyst"):
            view.may = "adjudicate"
        view.notes = [
            NoteView(actor, at, action, str(detail.get("note", "")))
            for actor, at, action, detail in s.execute(
                sa.select(AuditEntry.actor, AuditEntry.at, AuditEntry.action, AuditEntry.detail)
                .where(
                    AuditEntry.subject_type == "review_item",
                    AuditEntry.subject_id == item.id,
                    AuditEntry.action.in_(NOTE_ACTIONS),
                )
                .order_by(AuditEntry.id)
                .limit(50)
            )
        ]
        if item.status == "decided":
            view.notices = _notices_of(s, [item.id]).get(item.id, [])

    # --- images and exposure ------------------------------------------------------------

    def image(
        self,
        who: Principal,
        item_id: int,
        *,
        clear: bool,
        charge: int = 0,
        frame: int | None = None,
    ) -> tuple[bytes, str]:
        """(bytes, content type): a PNG softened per the user's settings unless `clear`.

        Refused past the daily exposure cap, to analysts who already assessed the item, and
        for disputed items to all but uninvolved seniors. Every serve is audited. A video is
        never served to play: it is a contact sheet of sampled frames, softened; revealing
        shows one `frame` of it, clear, and charges `FRAME_REVEAL_EXPOSURE_S` to the day's
        exposure on top of the page's heartbeat.
        """
        with self.store.session() as s:
            item = s.get(ReviewItem, item_id)
            if item is None:
                raise NotFound(f"no review item {item_id}")
            self._may_view(s, who, item)
            if exposure.over_cap(s, self.clock, who.id, self.policy(s).exposure_cap_seconds):
                raise Forbidden("daily exposure cap reached: no more images today")
            mime = s.get_one(Media, item.media_id).mime_type
            video = imaging.is_video(mime)
            if video and clear and frame is None:
                raise Forbidden("a video is revealed one frame of its contact sheet at a time")
            if video and clear:
                charge += FRAME_REVEAL_EXPOSURE_S
            data = self._open_bytes(s, item)
            if charge:
                exposure.charge(s, self.clock, who.id, charge)
            audit(
                s,
                self.clock,
                who,
                "image.reveal" if clear else "image.view",
                subject_type="review_item",
                subject_id=item.id,
            )
        if video:
            softened = not clear
            return imaging.render_video(
                data,
                blur=softened and who.blur,
                greyscale=softened and who.greyscale,
                frame=frame if clear else None,
            ), "image/png"
        if clear:
            return imaging.render(data, blur=False, greyscale=False), "image/png"
        blur, greyscale = self.softening(who)
        return imaging.render(data, blur=blur, greyscale=greyscale), "image/png"

    def softening(self, who: Principal) -> tuple[bool, bool]:
        """(blur, greyscale) for this user's previews: their own choice, or the organisation's
        policy where it enforces one."""
        policy = self.policy()
        return (
            who.blur or policy.review_policy_blur,
            who.greyscale or policy.review_policy_greyscale,
        )

    def policy(self, s: Session | None = None) -> ReviewSettings:
        """The settings with the wellbeing policy an administrator last saved in the console
        (blur, greyscale, exposure cap, break reminders) in force; the settings alone until
        then. Read from the store each time: every process sees a change at once."""
        if s is None:
            with self.store.session() as own:
                return self.policy(own)
        row = s.get(WellbeingPolicy, 1)
        if row is None:
            return self.settings
        return self.settings.model_copy(
            update={
                "review_policy_blur": row.blur,
                "review_policy_greyscale": row.greyscale,
                "review_exposure_cap_hours": row.exposure_cap_hours,
                "review_break_minutes": row.break_minutes,
            }
        )

    def set_policy(
        self,
        who: Principal,
        *,
        blur: bool,
        greyscale: bool,
        cap_hours: float,
        break_minutes: float,
        reason: str,
    ) -> None:
        """An administrator sets the organisation's wellbeing policy; audited (`policy.changed`,
        before and after). It may be stricter than the deployment's settings, never looser:
        blur or greyscale the settings enforce stay on, the cap stays at most theirs."""
        if not who.has("administrator"):
            raise Forbidden("the wellbeing policy is set by an administrator")
        base = self.settings
        if (base.review_policy_blur and not blur) or (
            base.review_policy_greyscale and not greyscale
        ):
            raise ReviewError("this deployment's settings enforce blur/greyscale: keep them on")
        if not 0 < cap_hours <= base.review_exposure_cap_hours:
            raise ReviewError(
                f"the daily cap must be above 0 and at most {base.review_exposure_cap_hours:g} "
                "hours (this deployment's settings)"
            )
        if not 0 <= break_minutes <= 24 * 60:
            raise ReviewError("break reminders: 0 (off) to 1440 minutes")
        with self.store.session() as s:
            before = self.policy(s)
            row = s.get(WellbeingPolicy, 1)
            if row is None:
                row = WellbeingPolicy(id=1)
                s.add(row)
            row.blur, row.greyscale = blur, greyscale
            row.exposure_cap_hours, row.break_minutes = cap_hours, break_minutes
            row.updated_at, row.updated_by = store_now(self.clock), who.username
            audit(
                s,
                self.clock,
                who,
                "policy.changed",
                subject_type="wellbeing_policy",
                detail={
                    "before": _policy_detail(before),
                    "after": {
                        "blur": blur,
                        "greyscale": greyscale,
                        "cap_hours": cap_hours,
                        "break_minutes": break_minutes,
                    },
                    **_reason(reason),
                },
            )

    def _may_view(self, s: Session, who: Principal, item: ReviewItem) -> None:
        assessed = s.scalar(
            sa.select(Assessment.id).where(
                Assessment.item_id == item.id, Assessment.user_id == who.id
            )
        )
        if item.status == "open" and assessed is None:
            return
        if item.status == "adjudication" and who.has("senior_analyst") and assessed is None:
            return
        raise Forbidden("this image is not yours to view")

    def _sealed(self, s: Session, media_id: int) -> tuple[bytes, str] | None:
        row = s.execute(
            sa.select(Suspect.ciphertext, Media.sha256)
            .join(Media, Media.id == Suspect.media_id)
            .where(Suspect.media_id == media_id, Suspect.ciphertext.is_not(None))
            .limit(1)
        ).first()
        return None if row is None or row[0] is None else (row[0], row[1])

    def _media_bytes(self, media_id: int) -> bytes | None:
        """A media's decrypted bytes for the classifier plug-in, or None when none are kept."""
        if self.vault is None:
            return None
        with self.store.session() as s:
            sealed = self._sealed(s, media_id)
        return None if sealed is None else self.vault.open(sealed[0], context=sealed[1].encode())

    def _open_bytes(self, s: Session, item: ReviewItem) -> bytes:
        sealed = self._sealed(s, item.media_id)
        if sealed is None:
            raise NotFound("no stored bytes for this item")
        if self.vault is None:
            raise NotFound("no suspect key configured: stored bytes cannot be opened")
        return self.vault.open(sealed[0], context=sealed[1].encode())

    def heartbeat(self, who: Principal) -> int:
        with self.store.session() as s:
            return exposure.charge(s, self.clock, who.id, self.settings.review_heartbeat_seconds)

    def exposure_today(self, who: Principal) -> int:
        with self.store.session() as s:
            return exposure.seconds_today(s, self.clock, who.id)

    # --- decisions ----------------------------------------------------------------------

    def bank_id(self) -> int:
        if self._bank_id is None:
            self._bank_id = ensure_bank(self.store, self.clock, self.settings.review_bank).id
        return self._bank_id

    def has_seen(self, who: Principal, item_id: int) -> bool:
        """Whether this user was ever served the item's image (softened or revealed)."""
        with self.store.session() as s:
            return _seen(s, who, item_id)

    def _seen_if_capped(self, s: Session, who: Principal, item_id: int) -> None:
        """Past the daily exposure cap no image is served, so a decision there would be made
        blind: refused unless this user was shown the item's image before the cap."""
        if not exposure.over_cap(s, self.clock, who.id, self.policy(s).exposure_cap_seconds):
            return
        if not _seen(s, who, item_id):
            raise Forbidden(
                "daily exposure cap reached and you have not seen this image: "
                "it cannot be decided without seeing it (it stays in the queue for others)"
            )

    def assessed_by(self, who: Principal, item_ids: list[int]) -> set[int]:
        """Which of these items this user has assessed (the queue marks them)."""
        if not item_ids:
            return set()
        with self.store.session() as s:
            return set(
                s.scalars(
                    sa.select(Assessment.item_id).where(
                        Assessment.user_id == who.id, Assessment.item_id.in_(item_ids)
                    )
                )
            )

    def assess(
        self, who: Principal, item_id: int, category: str, severity: str | None
    ) -> decisions.Outcome:
        bank_id = self.bank_id()
        with self.store.session() as s:
            self._seen_if_capped(s, who, item_id)
            before = _last_entry(s)
            outcome = decisions.assess(
                s,
                self.clock,
                who,
                item_id,
                category,
                severity,
                consensus=self.settings.review_consensus,
                bank_id=bank_id,
            )
        return self._retro(who, outcome, before)

    def split(self, who: Principal, member_id: int) -> int:
        """Take a near-duplicate out of its group (the analyst says it is another picture);
        both items are re-ranked. Returns the group's former lead item id."""
        with self.store.session() as s:
            lead = s.scalar(sa.select(ReviewItem.group_id).where(ReviewItem.id == member_id))
            member = decisions.split_from_group(s, self.clock, who, member_id)
            self.queue.recompute(s, member.id)
            if lead is not None:
                self.queue.recompute(s, lead)
            return int(lead or member.id)

    def adjudicate(
        self, who: Principal, item_id: int, category: str, severity: str | None
    ) -> decisions.Outcome:
        bank_id = self.bank_id()
        with self.store.session() as s:
            self._seen_if_capped(s, who, item_id)
            before = _last_entry(s)
            outcome = decisions.adjudicate(
                s, self.clock, who, item_id, category, severity, bank_id=bank_id
            )
        return self._retro(who, outcome, before)

    def _retro(
        self, who: Principal, outcome: decisions.Outcome, after_entry: int
    ) -> decisions.Outcome:
        """A verdict that banked new entries has every stored media matched against them
        (retroactive matching, after the verdict's commit): a sighting of another media with
        a near PDQ becomes a detection like the verdict's own (`review_retro_match`); the
        verdict's own pictures were detected by the verdict itself."""
        if (
            not self.settings.review_retro_match
            or outcome.status != "decided"
            or outcome.verdict == NOT_ACTIONABLE
        ):
            return outcome
        try:
            with self.store.session() as s:
                own = set(
                    s.scalars(
                        sa.select(ReviewItem.media_id).where(
                            sa.or_(
                                ReviewItem.id == outcome.item_id,
                                ReviewItem.group_id == outcome.item_id,
                            )
                        )
                    )
                )
            found = match_new_entries(
                self.store,
                self.clock,
                after_entry=after_entry,
                quality_min=self.settings.review_retro_quality_min,
                actor=who.username,
                exclude_media=own,
            )
        except Exception:  # the verdict stands; `orbweaver bank retro` can redo this
            log.exception("retroactive matching after the verdict on item %s", outcome.item_id)
            return outcome
        return dataclasses.replace(outcome, detections=outcome.detections + found.detections)

    def disputed(self, who: Principal) -> list[ItemView]:
        with self.store.session() as s:
            rows = s.execute(
                _with_details(
                    sa.select(ReviewItem)
                    .where(ReviewItem.status == "adjudication")
                    .order_by(ReviewItem.priority.desc(), ReviewItem.id)
                    .limit(100)
                )
            ).all()
            views = [self._view(s, who, row) for row in rows]
            mine = set(
                s.scalars(
                    sa.select(Assessment.item_id).where(
                        Assessment.user_id == who.id,
                        Assessment.item_id.in_([v.id for v in views]),
                    )
                )
            )
            for view in views:
                if who.has("senior_analyst") and view.id not in mine:
                    view.may = "adjudicate"
            return views

    # --- passing over, escalating, notes --------------------------------------------------

    def pass_over(self, who: Principal, item_id: int, *, defer: bool = False) -> None:
        """Skip (for `review_skip_hours`) or defer (for `review_defer_minutes`) an item: "next"
        does not serve it to this analyst meanwhile, and their claim on it is released."""
        minutes = (
            self.settings.review_defer_minutes if defer else self.settings.review_skip_hours * 60
        )
        until = self.clock.now() + timedelta(minutes=minutes)
        with self.store.session() as s:
            item = s.get(ReviewItem, item_id)
            if item is None:
                raise NotFound(f"no review item {item_id}")
            row = s.scalar(
                sa.select(ReviewSkip).where(
                    ReviewSkip.item_id == item.id, ReviewSkip.user_id == who.id
                )
            )
            if row is None:
                s.add(ReviewSkip(item_id=item.id, user_id=who.id, until=until))
            else:
                row.until = until
            if item.claimed_by == who.id:
                item.claimed_by = item.claimed_until = None
            action = "item.deferred" if defer else "item.skipped"
            audit(s, self.clock, who, action, subject_type="review_item", subject_id=item.id)

    def escalate(self, who: Principal, item_id: int, note: str) -> None:
        """ "Unsure": an analyst sends an open item to a senior analyst, with a reason."""
        note = _note_text(note, required=False)
        with self.store.session() as s:
            item = s.get(ReviewItem, item_id, with_for_update=True)
            if item is None:
                raise NotFound(f"no review item {item_id}")
            if item.status != "open":
                raise ReviewError(f"item {item_id} is {item.status}: only an open item goes up")
            if s.scalar(
                sa.select(Assessment.id).where(
                    Assessment.item_id == item.id, Assessment.user_id == who.id
                )
            ):
                raise Forbidden("you have already assessed this item")
            item.status, item.updated_at = "adjudication", self.clock.now()
            item.claimed_by = item.claimed_until = None
            audit(
                s,
                self.clock,
                who,
                "item.escalated",
                subject_type="review_item",
                subject_id=item.id,
                detail={"note": note},
            )

    def add_note(self, who: Principal, item_id: int, note: str) -> None:
        """A note on an item for the analysts after (kept in the audit log: never edited)."""
        note = _note_text(note, required=True)
        with self.store.session() as s:
            if s.get(ReviewItem, item_id) is None:
                raise NotFound(f"no review item {item_id}")
            audit(
                s,
                self.clock,
                who,
                "item.note",
                subject_type="review_item",
                subject_id=item_id,
                detail={"note": note},
            )

    def my_decisions(self, who: Principal, *, limit: int = 200) -> list[DecisionView]:
        """This user's assessments and adjudications, newest first, with where they led."""
        with self.store.session() as s:
            rows = s.execute(
                sa.select(
                    Assessment.item_id,
                    Assessment.category,
                    Assessment.severity,
                    Assessment.created_at,
                    ReviewItem.status,
                    Verdict.category,
                )
                .join(ReviewItem, ReviewItem.id == Assessment.item_id)
                .outerjoin(Verdict, Verdict.item_id == Assessment.item_id)
                .where(Assessment.user_id == who.id)
                .order_by(Assessment.id.desc())
                .limit(limit)
            ).all()
            found = [("assessment", *r) for r in rows]
            adjudicated = s.execute(
                sa.select(
                    Verdict.item_id,
                    Verdict.category,
                    Verdict.severity,
                    Verdict.decided_at,
                    ReviewItem.status,
                    Verdict.category,
                )
                .join(ReviewItem, ReviewItem.id == Verdict.item_id)
                .where(Verdict.via == "adjudication", Verdict.decided_by == who.username)
                .order_by(Verdict.id.desc())
                .limit(limit)
            ).all()
            found += [("adjudication", *r) for r in adjudicated]
            notices = _notices_of(s, sorted({r[1] for r in found}))
        found.sort(key=lambda r: r[4], reverse=True)
        return [
            DecisionView(item, role, cat, sev, at, status, verdict, notices.get(item, []))
            for role, item, cat, sev, at, status, verdict in found[:limit]
        ]

    # --- banks and audit ----------------------------------------------------------------

    def banks(self) -> list[tuple[str, bool, int, int]]:
        return [(b.name, b.enabled, b.threshold, b.entries) for b in list_banks(self.store)]

    def recent_entries(self, *, limit: int = 50) -> list[BankEntry]:
        with self.store.session() as s:
            return list(s.scalars(sa.select(BankEntry).order_by(BankEntry.id.desc()).limit(limit)))

    def held_entries(self, *, limit: int = 200) -> list[sa.Row[Any]]:
        """Entries switched off or quarantined (few: a partial index holds them), newest first,
        with their bank's name."""
        off = BankEntry.disabled_at.isnot(None) | BankEntry.quarantined_at.isnot(None)
        with self.store.session() as s:
            return list(
                s.execute(
                    sa.select(
                        BankEntry.id,
                        Bank.name,
                        BankEntry.signal_type,
                        BankEntry.source,
                        BankEntry.disabled_reason,
                        BankEntry.quarantined_at,
                    )
                    .join(Bank, Bank.id == BankEntry.bank_id)
                    .where(off)
                    .order_by(BankEntry.id.desc())
                    .limit(limit)
                )
            )

    def bank_quality(
        self,
        who: Principal,
        action: str,
        *,
        reason: str,
        entry_id: int | None = None,
        bank: str = "",
        distance: int | None = None,
    ) -> None:
        """A signal quality control from the console (a senior analyst's): `disable`, `enable`
        or `release` one entry, or `distance` (a bank's PDQ distance); audited with the reason."""
        if not who.has("senior_analyst"):
            raise Forbidden("signal quality controls need a senior analyst")
        if not reason.strip():
            raise ReviewError("give a reason: it goes to the audit log")
        try:
            if action in ("disable", "enable") and entry_id is not None:
                enabled = action == "enable"
                set_entry_enabled(
                    self.store, self.clock, entry_id, enabled, reason=reason, actor=who.username
                )
            elif action == "release" and entry_id is not None:
                release_entry(self.store, self.clock, entry_id, reason=reason, actor=who.username)
            elif action == "distance" and distance is not None:
                set_distance(self.store, self.clock, bank, "pdq", distance, actor=who.username)
            else:
                raise ReviewError(f"unknown control {action!r}")
        except BankError as exc:
            raise ReviewError(str(exc)) from None
        with self.store.session() as s:
            audit(
                s,
                self.clock,
                who,
                f"bank.{action}",
                subject_type="bank_entry" if entry_id is not None else "bank",
                subject_id=entry_id,
                detail={"bank": bank, "distance": distance, **_reason(reason)}
                if entry_id is None
                else _reason(reason),
            )

    def set_bank_enabled(
        self, who: Principal, name: str, enabled: bool, *, reason: str = ""
    ) -> None:
        if not who.has("administrator"):
            raise Forbidden("changing a bank needs an administrator")
        set_enabled(self.store, self.clock, name, enabled, actor=who.username)
        with self.store.session() as s:
            audit(
                s,
                self.clock,
                who,
                "bank.enabled" if enabled else "bank.disabled",
                subject_type="bank",
                detail={"name": name, **_reason(reason)},
            )

    def import_bank(self, who: Principal, name: str, text: str, *, reason: str) -> dict[str, int]:
        """An administrator imports a hash list (the bank CSV format) into bank `name`: valid
        rows land, bad ones are counted; audited (`bank.imported`) with the reason."""
        if not who.has("administrator"):
            raise Forbidden("importing into a bank needs an administrator")
        report = import_csv(self.store, self.clock, name, io.StringIO(text), actor=who.username)
        done = {"added": report.added, "duplicates": report.duplicates}
        done["rejected"] = len(report.errors)
        with self.store.session() as s:
            audit(
                s,
                self.clock,
                who,
                "bank.imported",
                subject_type="bank",
                detail={"name": name, **done, **_reason(reason)},
            )
        return done

    def export_bank(self, who: Principal, name: str, *, reason: str) -> str:
        """An administrator exports bank `name` as CSV; audited (`bank.exported`)."""
        if not who.has("administrator"):
            raise Forbidden("exporting a bank needs an administrator")
        out = io.StringIO()
        count = export_csv(self.store, name, out)
        with self.store.session() as s:
            audit(
                s,
                self.clock,
                who,
                "bank.exported",
                subject_type="bank",
                detail={"name": name, "entries": count, **_reason(reason)},
            )
        return out.getvalue()

    def record(
        self,
        who: Principal,
        action: str,
        *,
        subject_type: str = "",
        subject_id: int | None = None,
        detail: dict[str, object] | None = None,
    ) -> None:
        """An audit row for something a console user did elsewhere (a message retried)."""
        with self.store.session() as s:
            audit(
                s,
                self.clock,
                who,
                action,
                subject_type=subject_type,
                subject_id=subject_id,
                detail=detail,
            )

    def audit_log(self, *, limit: int = 200, before_id: int | None = None) -> list[AuditEntry]:
        with self.store.session() as s:
            return read_audit(s, limit=limit, before_id=before_id)


def _with_details(
    query: sa.Select[ReviewItem],
) -> sa.Select[ReviewItem, str, str | None, str | None, str | None, bool]:
    """`query`'s items with their media's hashes and type, their verdict, and whether stored
    bytes exist: one round trip instead of four (the subqueries run only for rows returned)."""
    verdict = sa.select(Verdict.category).where(Verdict.item_id == ReviewItem.id)
    # A LIMITed scalar subquery, not EXISTS: PostgreSQL may plan an EXISTS in the select list
    # as a hashed subplan, a scan of every suspect, when it expects many rows.
    sealed = (
        sa.select(Suspect.id)
        .where(Suspect.media_id == ReviewItem.media_id, Suspect.ciphertext.is_not(None))
        .limit(1)
        .scalar_subquery()
    )
    return query.join(Media, Media.id == ReviewItem.media_id).add_columns(
        Media.sha256,
        Media.pdq,
        Media.mime_type,
        verdict.scalar_subquery().label("verdict"),
        sealed.is_not(None).label("has_image"),
    )


def _note_text(note: str, *, required: bool) -> str:
    note = note.strip()
    if required and not note:
        raise ReviewError("a note needs some text")
    if len(note) > NOTE_MAX:
        raise ReviewError(f"a note has at most {NOTE_MAX} characters")
    return note


def _notices_of(s: Session, item_ids: list[int]) -> dict[int, list[int]]:
    """The notices covering each item's media or its grouped near-duplicates', by item."""
    if not item_ids:
        return {}
    lead = sa.func.coalesce(ReviewItem.group_id, ReviewItem.id)
    rows = s.execute(
        sa.select(lead, NoticeItem.notice_id)
        .join(NoticeItem, NoticeItem.media_id == ReviewItem.media_id)
        .where(sa.or_(ReviewItem.id.in_(item_ids), ReviewItem.group_id.in_(item_ids)))
        .distinct()
        .order_by(NoticeItem.notice_id)
    ).all()
    found: dict[int, list[int]] = {}
    for item_id, notice_id in rows:
        found.setdefault(int(item_id), []).append(int(notice_id))
    return found


def _seen(s: Session, who: Principal, item_id: int) -> bool:
    found = s.scalar(
        sa.select(AuditEntry.id)
        .where(
            AuditEntry.actor == who.username,
            AuditEntry.action.in_(SEEN_ACTIONS),
            AuditEntry.subject_type == "review_item",
            AuditEntry.subject_id == item_id,
        )
        .limit(1)
    )
    return found is not None


def _policy_detail(policy: ReviewSettings) -> dict[str, object]:
    return {
        "blur": policy.review_policy_blur,
        "greyscale": policy.review_policy_greyscale,
        "cap_hours": policy.review_exposure_cap_hours,
        "break_minutes": policy.review_break_minutes,
    }


def _reason(reason: str) -> dict[str, str]:
    """An administrator's reason for the audit row (at most 500 characters), if given."""
    reason = reason.strip()[:500]
    return {"reason": reason} if reason else {}


def _matches(s: Session, media_ids: list[int]) -> list[dict[str, object]]:
    """The detections of the media's sightings, one per entry at its best distance, explained."""
    rows = s.execute(
        sa.select(
            Detection.bank_entry_id,
            Detection.signal_type,
            sa.func.min(Detection.distance),
            sa.func.max(sa.case((Detection.held, 1), else_=0)),
        )
        .join(Sighting, Sighting.id == Detection.sighting_id)
        .where(Sighting.media_id.in_(media_ids))
        .group_by(Detection.bank_entry_id, Detection.signal_type)
        .order_by(Detection.bank_entry_id)
        .limit(50)
    ).all()
    known = explain_entries(s, [int(r[0]) for r in rows])
    return [
        {
            **known.get(int(entry), {}),
            "entry_id": int(entry),
            "signal_type": kind,
            "distance": int(distance),
            "held": bool(held),
        }
        for entry, kind, distance, held in rows
    ]


def _last_entry(s: Session) -> int:
    """The highest bank entry id now: what a verdict adds is above it."""
    return int(s.scalar(sa.select(sa.func.max(BankEntry.id))) or 0)
