"""Console users: roles, argon2 passwords, and login sessions with a CSRF token each.

Roles are ordered: a senior analyst can do what an analyst does, an administrator what both
do. Session tokens are random and only their SHA-256 is stored, so a database leak does not
log anyone in.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

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

    def has(self, role: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


def principal_of(user: ReviewUser) -> Principal:
    return Principal(user.id, user.username, user.role, user.blur, user.greyscale, user.mute_video)


def check_role(role: str) -> str:
    if role not in ROLE_RANK:
        raise ReviewError(f"unknown role {role!r} (one of {', '.join(REVIEW_ROLES)})")
    return role


def add_user(session: Session, clock: Clock, username: str, role: str, password: str) -> ReviewUser:
    """Create a user; the password is kept only as an argon2 hash."""
    check_role(role)
    if not username.strip() or len(username) > 64:
        raise ReviewError("a username needs 1 to 64 characters")
    if len(password) < 10:
        raise ReviewError("a password needs at least 10 characters")
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
    )
    session.add(user)
    session.flush()
    return user


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
    session: Session, clock: Clock, token: str
) -> tuple[ReviewUser, WebSession] | None:
    """The user behind a cookie token, if the session is live and the user enabled."""
    now = store_now(clock)
    row = session.scalar(sa.select(WebSession).where(WebSession.token_sha256 == token_hash(token)))
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    user = session.get(ReviewUser, row.user_id)
    if user is None or not user.enabled:
        return None
    return user, row


def close_session(session: Session, clock: Clock, token: str) -> None:
    row = session.scalar(sa.select(WebSession).where(WebSession.token_sha256 == token_hash(token)))
    if row is not None and row.revoked_at is None:
        row.revoked_at = clock.now()


def set_wellbeing(
    session: Session, user_id: int, *, blur: bool, greyscale: bool, mute_video: bool
) -> None:
    """Each user may change their own wellbeing settings (and nobody else's)."""
    user = session.get(ReviewUser, user_id)
    if user is None:
        raise ReviewError("no such user")
    user.blur, user.greyscale, user.mute_video = blur, greyscale, mute_video
