"""The review console's use cases, one transaction each, shared by the HTML pages and the API.

Everything an analyst can do goes through here, so both interfaces enforce the same rules:
who may see which image, the exposure cap, consensus, and the audit trail.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from orbweaver.banks.service import ensure_bank, list_banks, set_enabled
from orbweaver.clock import Clock
from orbweaver.review import accounts, decisions, exposure, imaging
from orbweaver.review.accounts import Principal
from orbweaver.review.audit import audit, read_audit
from orbweaver.review.errors import Forbidden, NotFound
from orbweaver.review.queue import ReviewQueue, SyncReport, group_media_ids
from orbweaver.review.settings import ReviewSettings
from orbweaver.store import Store
from orbweaver.store.models import (
    Assessment,
    AuditEntry,
    BankEntry,
    Media,
    ReviewItem,
    ReviewUser,
    Sighting,
    Suspect,
    Verdict,
)
from orbweaver.store.vault import Vault


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


class ReviewService:
    """One per process: it holds the queue's in-memory PDQ sets and the vault key."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        settings: ReviewSettings | None = None,
        *,
        vault_key: str = "",
    ) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings or ReviewSettings()
        self.queue = ReviewQueue(store, clock, self.settings)
        self.vault = Vault(vault_key) if vault_key else None
        self._sync_lock = threading.Lock()
        self._bank_id: int | None = None

    # --- accounts -----------------------------------------------------------------------

    def login(self, username: str, password: str) -> tuple[str, str] | None:
        """(session token, csrf token), or None; both outcomes are audited."""
        with self.store.session() as s:
            user = accounts.authenticate(s, username, password)
            if user is None:
                audit(s, self.clock, username[:200], "login.failed")
                return None
            audit(s, self.clock, accounts.principal_of(user), "login")
            return accounts.open_session(s, self.clock, user, self.settings.review_session_hours)

    def resolve(self, token: str) -> tuple[Principal, str] | None:
        with self.store.session() as s:
            found = accounts.resolve_session(s, self.clock, token)
            return None if found is None else (accounts.principal_of(found[0]), found[1].csrf_token)

    def logout(self, token: str) -> None:
        with self.store.session() as s:
            accounts.close_session(s, self.clock, token)

    def principal(self, username: str) -> Principal | None:
        """The enabled user an API client acts for (the client's name is the username)."""
        with self.store.session() as s:
            user = s.scalar(sa.select(ReviewUser).where(ReviewUser.username == username))
            return accounts.principal_of(user) if user and user.enabled else None

    def set_wellbeing(self, who: Principal, *, blur: bool, greyscale: bool, mute: bool) -> None:
        with self.store.session() as s:
            accounts.set_wellbeing(s, who.id, blur=blur, greyscale=greyscale, mute_video=mute)
            audit(
                s,
                self.clock,
                who,
                "settings.wellbeing",
                detail={"blur": blur, "greyscale": greyscale, "mute_video": mute},
            )

    # --- queue --------------------------------------------------------------------------

    def sync(self) -> SyncReport:
        """Ingest pending suspects; concurrent callers wait rather than double the work."""
        with self._sync_lock:
            return self.queue.sync()

    def next_item(self, who: Principal) -> int | None:
        with self.store.session() as s:
            item = self.queue.next_item(s, who.id)
            return None if item is None else item.id

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
            item = s.get(ReviewItem, item_id)
            if item is None:
                raise NotFound(f"no review item {item_id}")
            return self._view(s, who, item)

    def _view(self, s: Session, who: Principal, item: ReviewItem) -> ItemView:
        media = s.get_one(Media, item.media_id)
        sightings = [
            SightingView(
                r.url, r.page_url, r.host, r.network, r.archive_url, r.member_path, r.seen_at
            )
            for r in s.scalars(
                sa.select(Sighting)
                .where(Sighting.media_id.in_(group_media_ids(s, item)))
                .order_by(Sighting.seen_at.desc())
                .limit(200)
            )
        ]
        members = s.execute(
            sa.select(ReviewItem.id, Media.sha256, ReviewItem.group_distance)
            .join(Media, Media.id == ReviewItem.media_id)
            .where(ReviewItem.group_id == item.id)
        ).all()
        verdict = s.scalar(sa.select(Verdict.category).where(Verdict.item_id == item.id))
        view = ItemView(
            id=item.id,
            status=item.status,
            sha256=media.sha256,
            pdq=media.pdq,
            mime_type=media.mime_type,
            priority=item.priority,
            reasons=list(item.reasons),
            sightings=sightings,
            pages=sorted({v.page_url for v in sightings if v.page_url}),
            near_duplicates=[(r[0], r[1], r[2]) for r in members],
            verdict=verdict,
            is_video=imaging.is_video(media.mime_type),
            has_image=self._sealed(s, item.media_id) is not None,
        )
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

    # --- images and exposure ------------------------------------------------------------

    def image(
        self, who: Principal, item_id: int, *, clear: bool, charge: int = 0
    ) -> tuple[bytes, str]:
        """(bytes, content type): a PNG softened per the user's settings unless `clear`.

        Refused past the daily exposure cap, to analysts who already assessed the item, and
        for disputed items to all but uninvolved seniors. Every serve is audited. Videos are
        only served once revealed (no softened preview is made of them) and play muted.
        """
        with self.store.session() as s:
            item = s.get(ReviewItem, item_id)
            if item is None:
                raise NotFound(f"no review item {item_id}")
            self._may_view(s, who, item)
            if exposure.over_cap(s, self.clock, who.id, self.settings.exposure_cap_seconds):
                raise Forbidden("daily exposure cap reached: no more images today")
            mime = s.get_one(Media, item.media_id).mime_type
            if imaging.is_video(mime) and not clear:
                raise Forbidden("no softened preview of a video: reveal it to play it muted")
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
        if imaging.is_video(mime):
            return data, mime or "application/octet-stream"
        if clear:
            return imaging.render(data, blur=False, greyscale=False), "image/png"
        return imaging.render(data, blur=who.blur, greyscale=who.greyscale), "image/png"

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

    def assess(
        self, who: Principal, item_id: int, category: str, severity: str | None
    ) -> decisions.Outcome:
        bank_id = self.bank_id()
        with self.store.session() as s:
            return decisions.assess(
                s,
                self.clock,
                who,
                item_id,
                category,
                severity,
                consensus=self.settings.review_consensus,
                bank_id=bank_id,
            )

    def adjudicate(
        self, who: Principal, item_id: int, category: str, severity: str | None
    ) -> decisions.Outcome:
        bank_id = self.bank_id()
        with self.store.session() as s:
            return decisions.adjudicate(
                s, self.clock, who, item_id, category, severity, bank_id=bank_id
            )

    def disputed(self, who: Principal) -> list[ItemView]:
        with self.store.session() as s:
            items = s.scalars(
                sa.select(ReviewItem)
                .where(ReviewItem.status == "adjudication")
                .order_by(ReviewItem.priority.desc(), ReviewItem.id)
                .limit(100)
            )
            return [self._view(s, who, item) for item in items]

    # --- banks and audit ----------------------------------------------------------------

    def banks(self) -> list[tuple[str, bool, int, int]]:
        return [(b.name, b.enabled, b.threshold, b.entries) for b in list_banks(self.store)]

    def recent_entries(self, *, limit: int = 50) -> list[BankEntry]:
        with self.store.session() as s:
            return list(s.scalars(sa.select(BankEntry).order_by(BankEntry.id.desc()).limit(limit)))

    def set_bank_enabled(self, who: Principal, name: str, enabled: bool) -> None:
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
                detail={"name": name},
            )

    def audit_log(self, *, limit: int = 200, before_id: int | None = None) -> list[AuditEntry]:
        with self.store.session() as s:
            return read_audit(s, limit=limit, before_id=before_id)
