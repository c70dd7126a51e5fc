"""The media queue on the local store: media URLs the page crawl found, for the media workers.

The page crawl's store writer inserts them in the transaction that records the page visits
(`SightingWriter.write(tasks=...)`), so a page crawler killed after a flush has handed them
over for good. A worker claims a few at a time with a lease in the machine's real time (process
pacing, not domain time) and deletes them in the transaction that writes their sightings
(`SightingWriter.write(done=...)`): a worker killed mid-fetch loses nothing, its claims expire
and another worker (or its restart) fetches them again, at most what was in flight.

Claiming is a compare-and-set on the lease, so any number of workers and processes share one
queue; on PostgreSQL the candidates are read `FOR UPDATE SKIP LOCKED`, so they do not wait on
each other.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import sqlalchemy as sa

from orbweaver.store import Store
from orbweaver.store.models import MediaTask


@dataclass
class Task:
    """One claimed media URL."""

    id: int
    url: str
    kind: str
    page_url: str | None
    via_tor: bool
    passwords: list[str] = field(default_factory=list)


class StoreMediaQueue:
    """Claims on the `crawl_media_queue` table (see the module docstring)."""

    def __init__(self, store: Store, worker: str, lease_s: float = 300.0) -> None:
        self.store = store
        self.worker = worker
        self.lease_s = lease_s
        self._claims = itertools.count(1)

    def claim(self, limit: int) -> list[Task]:
        """Up to `limit` entries whose lease has expired (never claimed, or claimed by a worker
        that did not finish them in time), oldest first, now leased to this worker."""
        if limit <= 0:
            return []
        now = time.time()
        token = f"{self.worker}:{next(self._claims)}"[:64]
        with self.store.session() as session:
            query = (
                sa.select(MediaTask.id)
                .where(MediaTask.lease_until < now)
                .order_by(MediaTask.id)
                .limit(limit)
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            ids = list(session.scalars(query))
            if not ids:
                return []
            session.execute(
                sa.update(MediaTask)
                .where(MediaTask.id.in_(ids), MediaTask.lease_until < now)
                .values(claimed_by=token, lease_until=now + self.lease_s)
            )
            rows = session.scalars(
                sa.select(MediaTask)
                .where(MediaTask.id.in_(ids), MediaTask.claimed_by == token)
                .order_by(MediaTask.id)
            ).all()
            return [
                Task(r.id, r.url, r.kind, r.page_url, r.via_tor, list(r.passwords or []))
                for r in rows
            ]

    def renew(self, ids: list[int]) -> None:
        """Extend this worker's leases on `ids` (still fetching or not yet written), so a slow
        host's media are not claimed again while this worker is alive."""
        if not ids:
            return
        with self.store.session() as session:
            session.execute(
                sa.update(MediaTask)
                .where(MediaTask.id.in_(ids), MediaTask.claimed_by.like(f"{self.worker}:%"))
                .values(lease_until=time.time() + self.lease_s)
            )

    def depth(self) -> int:
        """Entries waiting or in flight."""
        with self.store.session() as session:
            return int(session.scalar(sa.select(sa.func.count()).select_from(MediaTask)) or 0)
