"""API clients: issue, list and revoke keys; check a presented key quickly on every request.

A key is `USERNAME:SECRET`. The secret is 256 random bits, so storing its SHA-256 is as safe as a
slow password hash would be, and lets each request be checked without an argon2 round. Workers
cache what they looked up for a few seconds, so a revoked key stops working within that delay
without a database read per request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from orbweaver.clock import Clock
from orbweaver.store import EventKind, Store, record_event, store_now
from orbweaver.store.models import ApiClient

DEFAULT_SCOPES = ("shield",)
_CACHE_MAX = 10_000
# last_used_at is written at most this often per client, to keep requests read-only.
_TOUCH_EVERY_S = 60.0


class ApiKeyError(ValueError):
    """An API key operation that cannot be done, with a message fit for the operator."""


@dataclass(frozen=True)
class ClientInfo:
    """What a request needs to know about the client that made it."""

    id: int
    name: str
    username: str
    scopes: tuple[str, ...]
    rate_per_minute: int | None
    rate_burst: int | None


@dataclass(frozen=True)
class ClientListing:
    name: str
    username: str
    scopes: tuple[str, ...]
    enabled: bool
    created_at: datetime
    last_used_at: datetime | None


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_client(
    store: Store,
    clock: Clock,
    name: str,
    *,
    scopes: tuple[str, ...] = DEFAULT_SCOPES,
    rate_per_minute: int | None = None,
    rate_burst: int | None = None,
    actor: str = "system",
) -> str:
    """Issue a key for a new client; returns `USERNAME:SECRET`, the only time the secret exists."""
    if not name.strip():
        raise ApiKeyError("an API client needs a name")
    username = f"ow_{secrets.token_hex(8)}"
    secret = secrets.token_urlsafe(32)
    with store.session() as session:
        if session.scalar(sa.select(ApiClient.id).where(ApiClient.name == name)) is not None:
            raise ApiKeyError(f"API client {name!r} already exists")
        row = ApiClient(
            name=name,
            username=username,
            secret_sha256=hash_secret(secret),
            scopes=list(scopes),
            enabled=True,
            rate_per_minute=rate_per_minute,
            rate_burst=rate_burst,
            created_at=clock.now(),
        )
        session.add(row)
        session.flush()
        record_event(
            session,
            clock,
            EventKind.APIKEY_CREATED,
            subject_type="api_client",
            subject_id=row.id,
            actor=actor,
            payload={"name": name, "username": username, "scopes": list(scopes)},
        )
    return f"{username}:{secret}"


def list_clients(store: Store) -> list[ClientListing]:
    with store.session() as session:
        rows = session.scalars(sa.select(ApiClient).order_by(ApiClient.id)).all()
        return [
            ClientListing(
                r.name, r.username, tuple(r.scopes), r.enabled, r.created_at, r.last_used_at
            )
            for r in rows
        ]


def revoke_client(
    store: Store, clock: Clock, name_or_username: str, *, actor: str = "system"
) -> None:
    """Disable a client for good (by name or username); its key stops working everywhere."""
    with store.session() as session:
        row = session.scalar(
            sa.select(ApiClient).where(
                sa.or_(ApiClient.name == name_or_username, ApiClient.username == name_or_username)
            )
        )
        if row is None:
            raise ApiKeyError(f"no API client {name_or_username!r}")
        row.enabled = False
        row.revoked_at = clock.now()
        record_event(
            session,
            clock,
            EventKind.APIKEY_REVOKED,
            subject_type="api_client",
            subject_id=row.id,
            actor=actor,
            payload={"name": row.name, "username": row.username},
        )


@dataclass
class _Cached:
    expires: float
    secret_sha256: str | None
    info: ClientInfo | None


class KeyRegistry:
    """Checks presented keys against the store, caching lookups for `ttl_s` seconds."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        ttl_s: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.clock = clock
        self.ttl_s = ttl_s
        self._monotonic = monotonic
        self._cache: dict[str, _Cached] = {}
        self._touched: dict[int, float] = {}
        self._lock = threading.Lock()

    def needs_store(self, username: str) -> bool:
        """Whether `verify(username, ...)` would touch the store now (a cache miss or expiry,
        or a `last_used_at` write due); async callers then run it off the event loop."""
        now = self._monotonic()
        with self._lock:
            hit = self._cache.get(username)
            if hit is None or hit.expires <= now:
                return True
            if hit.info is None:
                return False
            return now - self._touched.get(hit.info.id, -_TOUCH_EVERY_S) >= _TOUCH_EVERY_S

    def verify(self, username: str, secret: str) -> ClientInfo | None:
        """The enabled client whose key this is, or None; constant-time on the secret."""
        cached = self._lookup(username)
        if cached.info is None or cached.secret_sha256 is None:
            return None
        if not hmac.compare_digest(cached.secret_sha256, hash_secret(secret)):
            return None
        self._touch(cached.info.id)
        return cached.info

    def _lookup(self, username: str) -> _Cached:
        now = self._monotonic()
        with self._lock:
            hit = self._cache.get(username)
        if hit is not None and hit.expires > now:
            return hit
        with self.store.session() as session:
            row = session.scalar(sa.select(ApiClient).where(ApiClient.username == username))
            if row is None or not row.enabled:
                entry = _Cached(now + self.ttl_s, None, None)
            else:
                info = ClientInfo(
                    row.id,
                    row.name,
                    row.username,
                    tuple(row.scopes),
                    row.rate_per_minute,
                    row.rate_burst,
                )
                entry = _Cached(now + self.ttl_s, row.secret_sha256, info)
        with self._lock:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[username] = entry
        return entry

    def _touch(self, client_id: int) -> None:
        """Record last use, at most once a minute per client per worker."""
        now = self._monotonic()
        with self._lock:
            if now - self._touched.get(client_id, -_TOUCH_EVERY_S) < _TOUCH_EVERY_S:
                return
            self._touched[client_id] = now
        with self.store.session() as session:
            session.execute(
                sa.update(ApiClient)
                .where(ApiClient.id == client_id)
                .values(last_used_at=store_now(self.clock))
            )
