"""Review test helpers: a small synthetic world of media, sightings, detections and suspects.

Every image is a Pillow-drawn shape on a gradient; "suspect" is only a label.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import datetime, timedelta

from PIL import Image, ImageDraw

from orbweaver.banks.service import EntryRow, add_entries, ensure_bank
from orbweaver.clock import SettableClock
from orbweaver.review.accounts import Principal, add_user, enrol_totp, principal_of
from orbweaver.review.service import ReviewService
from orbweaver.review.settings import ReviewSettings
from orbweaver.store import Store
from orbweaver.store.models import Detection, Media, Sighting, Suspect
from orbweaver.store.vault import Vault, new_key

KEY = new_key()
PASSWORD = "correct horse battery"


def synthetic_png(seed: int, size: int = 96) -> bytes:
    """A coloured gradient with a shape whose place depends on `seed`: distinct bytes each."""
    image = Image.new("RGB", (size, size))
    draw = ImageDraw.Draw(image)
    for y in range(size):
        draw.line([(0, y), (size, y)], fill=(255 * y // size, (seed * 37) % 256, 200))
    x = (seed * 13) % (size - 30)
    draw.ellipse([x, 10, x + 30, 40], fill=(250, 30, 30))
    draw.rectangle([10, 60, 40 + seed % 40, 80], fill=(30, 200, 40))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def pdq_hex(seed: int, flips: int = 0) -> str:
    """A made-up PDQ hash; `flips` low bits changed gives a controlled Hamming distance."""
    value = int.from_bytes(hashlib.sha256(f"pdq{seed}".encode()).digest(), "big")
    return f"{value ^ ((1 << flips) - 1):064x}"


@dataclass
class World:
    store: Store
    clock: SettableClock
    vault: Vault

    def media(self, seed: int, *, pdq: str | None = None) -> tuple[int, bytes]:
        data = synthetic_png(seed)
        with self.store.session() as s:
            m = Media(
                sha256=hashlib.sha256(data).hexdigest(),
                sha1=hashlib.sha1(data).hexdigest(),
                md5=hashlib.md5(data).hexdigest(),
                pdq=pdq if pdq is not None else pdq_hex(seed),
                pdq_quality=100,
                size_bytes=len(data),
                mime_type="image/png",
                first_seen_at=self.clock.now().replace(tzinfo=None),
            )
            s.add(m)
            s.flush()
            return m.id, data

    def sighting(self, media_id: int, host: str, *, ago: timedelta = timedelta(0)) -> int:
        with self.store.session() as s:
            row = Sighting(
                media_id=media_id,
                url=f"http://{host}/img/{media_id}-{ago.total_seconds():.0f}.png",
                page_url=f"http://{host}/gallery/{media_id}",
                host=host,
                network="clear",
                reached_from_tor=False,
                seen_at=(self.clock.now() - ago).replace(tzinfo=None),
            )
            s.add(row)
            s.flush()
            return row.id

    def suspect(
        self,
        seed: int,
        host: str = "img.example.test",
        *,
        pdq: str | None = None,
        ago: timedelta = timedelta(0),
        media: tuple[int, bytes] | None = None,
    ) -> int:
        """A media (new unless given), one sighting of it, and a sealed pending suspect."""
        media_id, data = media or self.media(seed, pdq=pdq)
        sighting_id = self.sighting(media_id, host, ago=ago)
        with self.store.session() as s:
            sha = s.get_one(Media, media_id).sha256
            s.add(
                Suspect(
                    sighting_id=sighting_id,
                    media_id=media_id,
                    status="pending",
                    ciphertext=self.vault.seal(data, context=sha.encode()),
                    created_at=self.clock.now().replace(tzinfo=None),
                )
            )
        return media_id

    def detections_on(self, host: str, n: int, *, seed: int = 10_000) -> None:
        """`n` known-material detections on `host`, through a bank called `seed-bank`."""
        bank = ensure_bank(self.store, self.clock, "seed-bank")
        for i in range(n):
            media_id, _ = self.media(seed + i)
            sighting_id = self.sighting(media_id, host)
            with self.store.session() as s:
                sha = s.get_one(Media, media_id).sha256
                add_entries(
                    s, bank.id, [EntryRow("sha256", sha, "csam_prepubescent", "t")], self.clock
                )
                from orbweaver.review.decisions import _sha256_entry

                s.add(
                    Detection(
                        sighting_id=sighting_id,
                        bank_entry_id=_sha256_entry(s, bank.id, sha),
                        signal_type="sha256",
                        distance=0,
                        category="csam_prepubescent",
                        detected_at=self.clock.now().replace(tzinfo=None),
                    )
                )

    def user(self, name: str, role: str = "analyst") -> Principal:
        """A console user with PASSWORD; senior analysts and administrators enrolled in TOTP
        (their roles need it by default), codes from `totp_code`."""
        with self.store.session() as s:
            user = add_user(s, self.clock, name, role, PASSWORD)
            if role != "analyst":
                enrol_totp(user)
            return principal_of(user)

    def service(self, **overrides: object) -> ReviewService:
        return ReviewService(
            self.store,
            self.clock,
            ReviewSettings(**overrides),  # type: ignore[arg-type]
            vault_key=KEY,
        )


# Classifier plug-ins for the tests (named in `review_classifier` as `review_world:...`).
SCORES: dict[str, float] = {}
CALLS: list[str] = []


def scored_classifier(settings: ReviewSettings) -> object:
    """A plug-in whose scores the test sets in SCORES (by sha256); it records each call."""

    def classify(item: object) -> float | None:
        sha = item.sha256  # type: ignore[attr-defined]
        CALLS.append(sha)
        return SCORES.get(sha)

    return classify


def broken_classifier(settings: ReviewSettings) -> object:
    """A plug-in that fails on every suspect."""

    def classify(item: object) -> float:
        raise RuntimeError("model server down")

    return classify


def totp_code(store: Store, now: datetime, username: str) -> str:
    """The next code the server will take for `username` ('' when not enrolled): the earliest
    step it accepts (one either side of now) after the last one used."""
    import pyotp
    import sqlalchemy as sa

    from orbweaver.store.models import ReviewUser

    with store.session() as s:
        user = s.scalar(sa.select(ReviewUser).where(ReviewUser.username == username))
        if user is None or not user.totp_secret:
            return ""
        step = int(now.timestamp()) // 30
        if user.totp_last_step is not None:
            step = max(step - 1, user.totp_last_step + 1)
        else:
            step -= 1
        return str(pyotp.TOTP(user.totp_secret).generate_otp(step))
