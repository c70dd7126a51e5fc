"""The media queue on the local store: media URLs the page crawl found, for the media workers.

The page crawl's store writer inserts them in the transaction that records the page visits
(`SightingWriter.write(tasks=...)`), so a page crawler killed after a flush has handed them
over for good. A worker claims a few at a time with a lease in the machine's real time (process
pacing, not domain time) and deletes them in the transaction that writes their sightings
(`SightingWriter.write(done=...)`): a worker killed mid-fetch loses nothing, its claims expire
and another worker (or its restart) fetches them again, at most what was in flight.

Claiming is a compare-and-set on the lease, so any number of workers and processes share one
queue; on PostgreSQL the candidates are read `FOR UPDATE SKIP LOCKED`, so they do not wait on
each other. With `ORBWEAVER_REDIS_URL` the queue is a Redis Stream instead (`RedisMediaQueue`).

An entry whose batch the store refuses (an error that is not an outage: a row the database
will not take) is not retried at every lease expiry forever: `fail()` counts the attempt and
puts the next one `backoff` further away, and after `max_attempts` sets the entry aside as a
dead letter (`dead()`, `replay()`, `orbweaver media-dead-letters`), so one poison URL neither
spins the workers nor keeps the queue from ever being empty.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from orbweaver.store import Store, store_now
from orbweaver.store.models import MediaDeadLetter, MediaTask
from orbweaver.supervise import Backoff

MAX_ATTEMPTS = 5
RETRY_BACKOFF = Backoff(5.0, 300.0)


@dataclass
class DeadLetter:
    """A media URL set aside after `max_attempts` refused batches."""

    id: Any
    url: str
    kind: str
    page_url: str | None
    attempts: int
    error: str
    dead_at: str


@dataclass
class Task:
    """One claimed media URL."""

    id: Any  # the store's row id, or the Redis Stream's entry id
    url: str
    kind: str
    page_url: str | None
    via_tor: bool
    passwords: list[str] = field(default_factory=list)


class StoreMediaQueue:
    """Claims on the `crawl_media_queue` table (see the module docstring). Entries are
    acknowledged in the store writer's transaction (`acks_in_store`)."""

    acks_in_store = True

    def __init__(
        self,
        store: Store,
        worker: str,
        lease_s: float = 300.0,
        *,
        clock: Any = None,
        max_attempts: int = MAX_ATTEMPTS,
        backoff: Backoff = RETRY_BACKOFF,
    ) -> None:
        from orbweaver.clock import SystemClock

        self.store = store
        self.worker = worker
        self.lease_s = lease_s
        self.clock = clock or SystemClock()
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff
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

    def ack(self, ids: list[Any]) -> None:
        """Nothing to do: the store writer deleted them with the sightings."""

    def fail(self, task: Task, error: str) -> bool:
        """The store refused a batch with `task` alone in it: try it again after a backoff, or
        set it aside as a dead letter after `max_attempts`. True when it was set aside."""
        with self.store.session() as session:
            row = session.get(MediaTask, task.id)
            if row is None:
                return False
            attempts = (row.attempts or 0) + 1
            if attempts < self.max_attempts:
                row.attempts = attempts
                row.last_error = error[:2000]
                row.claimed_by = None
                row.lease_until = time.time() + self.backoff.delay(attempts)
                return False
            session.add(
                MediaDeadLetter(
                    url=row.url,
                    kind=row.kind,
                    page_url=row.page_url,
                    via_tor=row.via_tor,
                    passwords=list(row.passwords or []),
                    enqueued_at=row.enqueued_at,
                    dead_at=store_now(self.clock),
                    attempts=attempts,
                    error=error[:2000],
                )
            )
            session.delete(row)
            return True

    def dead(self) -> list[DeadLetter]:
        """The dead letters, oldest first."""
        with self.store.session() as session:
            rows = session.scalars(sa.select(MediaDeadLetter).order_by(MediaDeadLetter.id))
            return [
                DeadLetter(
                    r.id, r.url, r.kind, r.page_url, r.attempts, r.error or "",
                    r.dead_at.isoformat(),
                )
                for r in rows
            ]  # fmt: skip

    def replay(self, ids: list[Any] | None = None) -> int:
        """Put dead letters (`ids`, or all) back on the queue with their attempts cleared; how
        many went back."""
        with self.store.session() as session:
            query = sa.select(MediaDeadLetter)
            if ids is not None:
                query = query.where(MediaDeadLetter.id.in_([int(i) for i in ids]))
            rows = list(session.scalars(query))
            for r in rows:
                session.add(
                    MediaTask(
                        url=r.url,
                        kind=r.kind,
                        page_url=r.page_url,
                        via_tor=r.via_tor,
                        passwords=list(r.passwords or []),
                        enqueued_at=store_now(self.clock),
                        lease_until=0.0,
                        attempts=0,
                    )
                )
                session.delete(r)
            return len(rows)

    def depth(self) -> int:
        """Entries waiting or in flight."""
        with self.store.session() as session:
            return int(session.scalar(sa.select(sa.func.count()).select_from(MediaTask)) or 0)


GROUP = "media-workers"


class RedisMediaQueue:
    """The media queue as a Redis Stream with one consumer group, for workers on several
    machines (`ORBWEAVER_REDIS_URL`). A worker reads new entries with XREADGROUP, first taking
    back (XAUTOCLAIM) entries another consumer has held longer than the lease without
    acknowledging them (a dead worker), renews its own with XCLAIM, and acknowledges and deletes
    an entry (XACK, XDEL) once its sightings are committed: a kill between the commit and the
    acknowledgement fetches that batch again, nothing is lost."""

    acks_in_store = False

    def __init__(
        self,
        url: str,
        prefix: str,
        worker: str,
        lease_s: float = 300.0,
        *,
        clock: Any = None,
        max_attempts: int = MAX_ATTEMPTS,
        backoff: Backoff = RETRY_BACKOFF,
    ) -> None:
        import redis

        from orbweaver.clock import SystemClock

        self.redis = redis.Redis.from_url(url)
        self.key = f"{prefix}:media"
        self.dead_key = f"{prefix}:media:dead"
        self.attempts_key = f"{prefix}:media:attempts"
        self.worker = worker
        self.lease_ms = max(1, int(lease_s * 1000))
        self.clock = clock or SystemClock()
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff
        self._group_ready = False

    def _group(self) -> None:
        import redis

        if self._group_ready:
            return
        try:
            self.redis.xgroup_create(self.key, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def add(self, tasks: list[dict[str, object]]) -> None:
        if not tasks:
            return
        self._group()
        pipe = self.redis.pipeline(transaction=False)
        for task in tasks:
            pipe.xadd(self.key, {"t": json.dumps(task)})
        pipe.execute()

    @staticmethod
    def _task(entry_id: bytes | str, fields: dict[bytes, bytes]) -> Task:
        data = json.loads(fields[b"t"])
        ident = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
        return Task(
            ident,
            data["url"],
            data.get("kind", "media"),
            data.get("page_url"),
            bool(data.get("via_tor")),
            list(data.get("passwords") or []),
        )

    def claim(self, limit: int) -> list[Task]:
        if limit <= 0:
            return []
        self._group()
        found: list[Task] = []
        reply: Any = self.redis.xautoclaim(
            self.key, GROUP, self.worker, min_idle_time=self.lease_ms, start_id="0-0", count=limit
        )
        for entry_id, fields in reply[1]:
            if fields:  # an entry deleted meanwhile comes back without its fields
                found.append(self._task(entry_id, fields))
        if len(found) < limit:
            streams: Any = self.redis.xreadgroup(
                GROUP, self.worker, {self.key: ">"}, count=limit - len(found)
            )
            for _key, entries in streams or []:
                for entry_id, fields in entries:
                    found.append(self._task(entry_id, fields))
        return found

    def renew(self, ids: list[Any]) -> None:
        if ids:
            self.redis.xclaim(self.key, GROUP, self.worker, 0, ids, justid=True)

    def ack(self, ids: list[Any]) -> None:
        if ids:
            pipe = self.redis.pipeline(transaction=False)
            pipe.xack(self.key, GROUP, *ids)
            pipe.xdel(self.key, *ids)
            pipe.hdel(self.attempts_key, *ids)
            pipe.execute()

    def fail(self, task: Task, error: str) -> bool:
        """As `StoreMediaQueue.fail`: the attempt is counted in a hash beside the stream, the
        backoff is the entry's idle time set so that XAUTOCLAIM takes it again after the
        backoff (at most the lease), the dead letters are a second stream."""
        attempts = int(self.redis.hincrby(self.attempts_key, task.id, 1))
        if attempts < self.max_attempts:
            wait_ms = min(self.lease_ms, int(self.backoff.delay(attempts) * 1000))
            self.redis.xclaim(
                self.key, GROUP, self.worker, 0, [task.id], idle=self.lease_ms - wait_ms,
                justid=True,
            )  # fmt: skip
            return False
        letter = {
            "url": task.url, "kind": task.kind, "page_url": task.page_url,
            "via_tor": task.via_tor, "passwords": task.passwords, "attempts": attempts,
            "error": error[:2000], "dead_at": store_now(self.clock).isoformat(),
        }  # fmt: skip
        pipe = self.redis.pipeline(transaction=True)
        pipe.xadd(self.dead_key, {"t": json.dumps(letter)})
        pipe.xack(self.key, GROUP, task.id)
        pipe.xdel(self.key, task.id)
        pipe.hdel(self.attempts_key, task.id)
        pipe.execute()
        return True

    def dead(self) -> list[DeadLetter]:
        found = []
        entries: Any = self.redis.xrange(self.dead_key)
        for entry_id, fields in entries:
            d = json.loads(fields[b"t"])
            ident = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
            found.append(
                DeadLetter(
                    ident, d["url"], d.get("kind", "media"), d.get("page_url"),
                    int(d.get("attempts", 0)), d.get("error", ""), d.get("dead_at", ""),
                )
            )  # fmt: skip
        return found

    def replay(self, ids: list[Any] | None = None) -> int:
        letters = [d for d in self.dead() if ids is None or str(d.id) in {str(i) for i in ids}]
        if not letters:
            return 0
        entries: Any = self.redis.xrange(self.dead_key)
        raw = {(e.decode() if isinstance(e, bytes) else e): json.loads(f[b"t"]) for e, f in entries}
        tasks = []
        for letter in letters:
            d = raw[str(letter.id)]
            tasks.append({k: d.get(k) for k in ("url", "kind", "page_url", "via_tor")})
            tasks[-1]["passwords"] = list(d.get("passwords") or [])
        self.add(tasks)
        self.redis.xdel(self.dead_key, *[letter.id for letter in letters])
        return len(letters)

    def depth(self) -> int:
        """Entries waiting or in flight (acknowledged ones are deleted)."""
        return int(self.redis.xlen(self.key))


def media_queue(
    store: Store,
    worker: str,
    *,
    redis_url: str = "",
    prefix: str = "",
    lease_s: float = 300.0,
    clock: Any = None,
    max_attempts: int = MAX_ATTEMPTS,
    backoff: Backoff = RETRY_BACKOFF,
) -> StoreMediaQueue | RedisMediaQueue:
    """The media queue a crawl uses: the Redis Stream when Redis is configured, else the store."""
    extra: dict[str, Any] = {"clock": clock, "max_attempts": max_attempts, "backoff": backoff}
    if redis_url:
        return RedisMediaQueue(redis_url, prefix, worker, lease_s, **extra)
    return StoreMediaQueue(store, worker, lease_s, **extra)
