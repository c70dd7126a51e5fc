"""Console users: roles, argon2 passwords, a second factor, and login sessions with a CSRF
token each.

Roles are ordered: a senior analyst can do what an analyst does, an administrator what both
do. Session tokens are random and only their SHA-256 is stored, so a database leak does not
log anyone in. Passwords need 10 characters and must not be one of the bundled common ones
(`common-passwords.txt`, shipped in the package, never downloaded). TOTP (RFC 6238, pyotp)
codes are checked against the user's secret within one step either way, and a step once used
is refused again (no replay).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from orbweaver.clock import Clock
from orbweaver.review.errors import ReviewError
from orbweaver.store import store_now
from orbweaver.store.models import REVIEW_ROLES, ReviewUser, WebSession

ROLE_RANK = {role: rank for rank, role in enumerate(REVIEW_ROLES)}
_HASHER = PasswordHasher()
# A valid hash of nothing, verified when the user is unknown so timing does not tell.
_DUMMY = _HASHER.hash("orbweaver-no-such-user")


@dataclass(frozen=True)
class Principal:
    """Who is acting: a console user, whether through a session or an API key."""

    id: int
    username: str
    role: str
    blur: bool = True
    greyscale: bool = True
    mute_video: bool = True
    shortcuts: bool = True

    def has(self, role: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


def principal_of(user: ReviewUser) -> Principal:
    return Principal(
        user.id,
        user.username,
        user.role,
        user.blur,
        user.greyscale,
        user.mute_video,
        user.shortcuts is not False,  # None on a row written before the column existed
    )


def check_role(role: str) -> str:
    if role not in ROLE_RANK:
        raise ReviewError(f"unknown role {role!r} (one of {', '.join(REVIEW_ROLES)})")
    return role


def add_user(session: Session, clock: Clock, username: str, role: str, password: str) -> ReviewUser:
    """Create a user; the password is kept only as an argon2 hash."""
    check_role(role)
    if not username.strip() or len(username) > 64:
        raise ReviewError("a username needs 1 to 64 characters")
    check_password(password, username)
    if session.scalar(sa.select(ReviewUser.id).where(ReviewUser.username == username)):
        raise ReviewError(f"user {username!r} already exists")
    user = ReviewUser(
        username=username,
        role=role,
        password_hash=_HASHER.hash(password),
        enabled=True,
        blur=True,
        greyscale=True,
        mute_video=True,
        created_at=clock.now(),
        password_changed_at=clock.now(),
    )
    session.add(user)
    session.flush()
    return user


COMMON_PASSWORDS = Path(__file__).with_name("common-passwords.txt")
PASSWORD_MIN = 10


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS.read_text().splitlines()
    return frozenset(line.strip().lower() for line in lines if line and not line.startswith("#"))


def check_password(password: str, username: str = "") -> None:
    """Refuse a password an attacker would try early: short, common (or a common one with
    digits and symbols after it), the username in it, or one character repeated."""
    if len(password) < PASSWORD_MIN:
        raise ReviewError(f"a password needs at least {PASSWORD_MIN} characters")
    lowered = password.lower()
    stem = re.sub(r"[\d\W_]+$", "", lowered)
    common = common_passwords()
    if lowered in common or stem in common or not stem:
        raise ReviewError("this password is too common: choose another")
    if username and username.lower() in lowered:
        raise ReviewError("a password must not contain the username")
    if len(set(password)) < 4:
        raise ReviewError("a password needs more than three different characters")


def change_password(session: Session, clock: Clock, user: ReviewUser, new: str) -> None:
    """Set a new password (checked like a first one) and end every session of the user."""
    check_password(new, user.username)
    user.password_hash = _HASHER.hash(new)
    user.password_changed_at = clock.now()
    revoke_sessions(session, clock, user.id)


def password_ok(user: ReviewUser, password: str) -> bool:
    try:
        return bool(_HASHER.verify(user.password_hash, password))
    except (VerificationError, InvalidHashError):
        return False


def revoke_sessions(session: Session, clock: Clock, user_id: int) -> int:
    """End every live session of the user; returns how many."""
    now = store_now(clock)
    result = session.execute(
        sa.update(WebSession)
        .where(WebSession.user_id == user_id, WebSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


TOTP_STEP_S = 30


def enrol_totp(user: ReviewUser) -> str:
    """A new TOTP secret for the user (base32), replacing any before."""
    import pyotp

    user.totp_secret = pyotp.random_base32()
    user.totp_last_step = None
    return user.totp_secret


def totp_uri(user: ReviewUser, issuer: str = "orbweaver") -> str:
    import pyotp

    assert user.totp_secret
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.username, issuer_name=issuer)


def check_totp(user: ReviewUser, code: str, now: datetime) -> bool:
    """Whether `code` is the user's current code (one step either way, for clock drift),
    for a step later than the last one used; the step is then spent."""
    import pyotp

    if not user.totp_secret or not re.fullmatch(r"\d{6}", code.strip()):
        return False
    totp = pyotp.TOTP(user.totp_secret, interval=TOTP_STEP_S)
    step = int(now.timestamp()) // TOTP_STEP_S
    for candidate in (step - 1, step, step + 1):
        if user.totp_last_step is not None and candidate <= user.totp_last_step:
            continue
        if hmac.compare_digest(totp.generate_otp(candidate), code.strip()):
            user.totp_last_step = candidate
            return True
    return False


def authenticate(session: Session, username: str, password: str) -> ReviewUser | None:
    """The enabled user with this password, or None; rehashes when parameters changed."""
    user = session.scalar(sa.select(ReviewUser).where(ReviewUser.username == username))
    try:
        _HASHER.verify(user.password_hash if user else _DUMMY, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.enabled:
        return None
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = _HASHER.hash(password)
    return user


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(session: Session, clock: Clock, user: ReviewUser, hours: float) -> tuple[str, str]:
    """Start a login; returns (cookie token, csrf token). Only the token's hash is stored."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = clock.now()
    session.add(
        WebSession(
            token_sha256=token_hash(token),
            user_id=user.id,
            csrf_token=csrf,
            created_at=now,
            expires_at=now + timedelta(hours=hours),
        )
    )
    user.last_login_at = now
    return token, csrf


def resolve_session(
    session: Session, clock: Clock, token: str, *, idle_minutes: float = 0
) -> tuple[ReviewUser, WebSession] | None:
    """The user behind a cookie token, if the session is live (not revoked, not expired, not
    idle longer than `idle_minutes` when given) and the user enabled. Marks it seen (at most a
    write a minute)."""
    now = store_now(clock)
    row = session.scalar(sa.select(WebSession).where(WebSession.token_sha256 == token_hash(token)))
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    seen = row.last_seen_at or row.created_at
    if idle_minutes and now - seen > timedelta(minutes=idle_minutes):
        row.revoked_at = now
        return None
    user = session.get(ReviewUser, row.user_id)
    if user is None or not user.enabled:
        return None
    if now - seen >= timedelta(minutes=1):
        row.last_seen_at = now
    return user, row


def close_session(session: Session, clock: Clock, token: str) -> None:
    row = session.scalar(sa.select(WebSession).where(WebSession.token_sha256 == token_hash(token)))
    if row is not None and row.revoked_at is None:
        row.revoked_at = clock.now()


def set_wellbeing(
    session: Session,
    user_id: int,
    *,
    blur: bool,
    greyscale: bool,
    mute_video: bool,
    shortcuts: bool = True,
) -> None:
    """Each user may change their own wellbeing settings (and nobody else's)."""
    user = session.get(ReviewUser, user_id)
    if user is None:
        raise ReviewError("no such user")
    user.blur, user.greyscale, user.mute_video = blur, greyscale, mute_video
    user.shortcuts = shortcuts
