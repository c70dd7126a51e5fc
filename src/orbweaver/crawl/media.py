"""Media workers: media fetched, unpacked, fingerprinted and matched outside Scrapy (issue 15).

Scrapy's cost per response (about 1.1 ms of CPU) is more than hashing a picture costs, so with
`--media-workers N` the page crawl hands media URLs to the media queue (`crawl.mediaqueue`)
instead of downloading them, and N worker processes take them from there. A worker is one
asyncio loop with one HTTP client (`net.AsyncGuardedClient`: the same network policy as every
other fetch, keep-alive pools) and up to `media_in_flight` fetches at once, politely: at most
`per_host_concurrency` at a time per host and `download_delay_s` between two starts on one
host. Decoding, hashing and unpacking run in one thread beside the loop (the process is the
parallelism); matching in the loop. The bytes never leave the process: what it writes are
signals, sightings and outcomes, a batch per transaction (`SightingWriter`), which also deletes
the batch's queue entries, so a worker killed at any point loses no media URL.

A store outage is waited out as in the page crawl: the batch is kept and retried with backoff,
said once, and the worker claims nothing more until it is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import multiprocessing
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from orbweaver.crawl.items import MediaItem
from orbweaver.crawl.mediaqueue import Task, media_queue
from orbweaver.crawl.sniff import sniff
from orbweaver.crawl.writer import SightingWriter
from orbweaver.supervise import Backoff, Patience, is_transient

if TYPE_CHECKING:
    from orbweaver.config import Settings
    from orbweaver.crawl.options import CrawlOptions
    from orbweaver.net import AsyncGuardedClient, NetworkPolicy
    from orbweaver.store import Store

logger = logging.getLogger(__name__)

USER_AGENT = "orbweaver/0.1 (child-protection hotline crawler)"
CLAIM = 32  # media URLs claimed at once


_PLAIN_URL = re.compile(r"https?://([A-Za-z0-9.-]+)(?::[0-9]+)?(?:[/?#]|$)")


def host_of(url: str) -> str:
    # the common case without `urlsplit` (twice a media); anything unusual goes through it
    plain = _PLAIN_URL.match(url)
    if plain is not None:
        return plain.group(1).lower()
    from urllib.parse import urlsplit

    return (urlsplit(url).hostname or "").lower()


class MediaWorker:
    """One worker process's loop (see the module docstring)."""

    def __init__(
        self,
        options: CrawlOptions,
        policy: NetworkPolicy,
        client: AsyncGuardedClient,
        store: Store,
        clock: Any,
        suspect_key: str,
        name: str,
    ) -> None:
        from orbweaver.banks import Matcher

        self.options = options
        self.policy = policy
        self.client = client
        self.store = store
        self.name = name
        self.stats: Counter[str] = Counter()
        self.queue = media_queue(
            store,
            name,
            redis_url=options.redis_url,
            prefix=options.redis_prefix,
            lease_s=options.media_lease_s,
            clock=clock,
            max_attempts=options.media_max_attempts,
            backoff=Backoff(options.media_retry_base_s, options.media_lease_s),
        )
        self.writer = SightingWriter(store, clock, options, suspect_key, self._count)
        self.matcher = Matcher(store, quality_min=options.pdq_quality_min)
        self.cpu = ThreadPoolExecutor(1, thread_name_prefix="media-cpu")
        self.results: list[MediaItem] = []
        self.done: list[int] = []
        self.held: dict[Any, Task] = {}  # claimed and not yet written (leases renewed)
        self.task_of: dict[int, Any] = {}  # id(item) -> its queue entry, until written
        self.hosts: dict[str, asyncio.Semaphore] = {}
        self.next_start: dict[str, float] = {}
        from orbweaver.crawl.politeness import host_budget

        self.budget = host_budget(options)
        self.patience = Patience(
            f"crawl: media worker {name} store writer (batch kept, claiming paused)",
            Backoff(options.store_retry_base_s, options.store_retry_cap_s),
            logger,
        )
        from orbweaver.evidence import EvidenceSettings, PageCache

        evidence = EvidenceSettings()
        self.pages = PageCache(min(evidence.evidence_page_cache_bytes, 16 * 1_048_576))
        self.page_max_bytes = evidence.evidence_page_max_bytes
        self.cpu_s = 0.0  # CPU seconds this process spent fingerprinting
        self.first_result: tuple[float, float, float, int, float] | None = None
        self.last_result: tuple[float, float, float, int, float] | None = None
        self.wake = asyncio.Event()  # set when a fetch finishes
        self.fetching = 0  # claimed media with a host's slot, their fetch under way

    def _count(self, key: str, n: int = 1) -> None:
        from orbweaver.crawl.metrics import note_stat

        self.stats[key] += n
        note_stat(key, n)  # error kinds go to the store with the next batch

    def _failed(self, kind: str) -> None:
        self._count("errors")
        self._count(f"failed/{kind}")

    async def run(self, finished: Callable[[], bool], stop: Callable[[], bool]) -> None:
        """Work until `stop()`, or until `finished()` (the page crawl is over) and the queue is
        empty, with nothing of this worker's left in flight or unwritten."""
        await self._call(self.matcher.refresh, "match index")
        refreshed = time.monotonic()
        inflight: set[asyncio.Task[None]] = set()
        writing: asyncio.Task[None] | None = None
        last_write = renewed = next_claim = time.monotonic()
        limit = max(1, self.options.media_in_flight)
        while True:
            if writing is not None and writing.done():
                writing.result()
                writing = None
            claimed = 0
            backlog = (
                self.patience.failures > 0 or len(self.results) >= 4 * self.options.flush_batch
            )
            if (
                not stop()
                and not backlog
                and len(inflight) <= limit - CLAIM
                and len(inflight) - self.fetching < CLAIM
                and time.monotonic() >= next_claim
            ):
                # a few at a time, and only while few claimed media wait (for a host's slot or
                # for the fingerprinting thread), so the workers sharing the queue share the
                # work: a worker that claimed up to `media_in_flight` of a one-host site held
                # most of it behind its 8-64 slots while the other had nothing (issue 15). An
                # empty queue is asked again a little later, a short one sooner (the page crawl
                # adds to it at every flush)
                room = min(CLAIM, limit - len(inflight))
                tasks = await self._call(functools.partial(self.queue.claim, room), "claim")
                if not tasks:
                    next_claim = time.monotonic() + 0.25
                elif len(tasks) < room:
                    next_claim = time.monotonic() + 0.05
                tasks = [t for t in tasks or [] if t.id not in self.held]
                claimed = len(tasks)
                for task in tasks:
                    self.held[task.id] = task
                    job = asyncio.create_task(self._process(task))
                    inflight.add(job)
                    job.add_done_callback(functools.partial(self._finished, inflight))
            if time.monotonic() - renewed >= self.options.media_lease_s / 3:
                renewed = time.monotonic()
                await self._call(functools.partial(self.queue.renew, list(self.held)), "renew")
            if inflight:
                # woken by the next completion (`_finished`), not by `asyncio.wait` over every
                # fetch in flight: that registered and removed hundreds of callbacks a turn
                if not self.wake.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.wake.wait(), 0.05)
                self.wake.clear()
            due = time.monotonic() - last_write >= self.options.flush_interval_s
            if writing is None and (
                len(self.results) >= self.options.flush_batch or (due and self.done)
            ):
                media, self.results = self.results, []
                acks, self.done = self.done, []
                if media:
                    self.last_result = self._window()
                writing = asyncio.create_task(self._write(media, acks))
                last_write = time.monotonic()
            if time.monotonic() - refreshed >= self.options.matcher_refresh_s:
                refreshed = time.monotonic()
                await self._call(self.matcher.refresh, "match index")
            if inflight or claimed:
                continue
            # nothing in flight: wait for the write, or for the next flush, never spin (a loop
            # that `continue`d here ran at 100% of a core for as long as a write took, or a
            # store outage lasted, competing with the write's own thread for the GIL)
            if writing is not None:
                await asyncio.wait({writing}, timeout=0.25)
                continue
            if self.done:
                due_in = self.options.flush_interval_s - (time.monotonic() - last_write)
                await asyncio.sleep(min(max(due_in, 0.0), 0.25))
                continue
            if stop() or (finished() and await self._call(self.queue.depth, "depth") == 0):
                break
            await asyncio.sleep(0.2)
        self.cpu.shutdown(wait=True)
        if self.budget is not None:
            self.budget.close()

    def _finished(self, inflight: set[asyncio.Task[None]], job: asyncio.Task[None]) -> None:
        inflight.discard(job)
        self.wake.set()
        if not job.cancelled() and job.exception() is not None:  # _process catches its own
            logger.error("media worker: a fetch task failed", exc_info=job.exception())

    async def _call(self, function: Callable[[], Any], what: str) -> Any:
        """`function()` in a thread; a store outage is waited out (said once)."""
        patience = Patience(f"crawl: media worker {self.name}: {what}", Backoff(0.5, 15.0), logger)
        while True:
            try:
                result = await asyncio.to_thread(function)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                await asyncio.sleep(patience.failed(exc))
                continue
            patience.succeeded()
            return result

    async def _pages_for_evidence(self, media: list[MediaItem]) -> None:
        """The linking page of every detection, fetched now (the page crawl ran in another
        process): its headers and HTML as they stand seconds after the spider saw them. Only
        for detections; one fetch a page, kept in a bounded cache for the next ones."""
        from orbweaver.evidence import Exchange, page_capture
        from orbweaver.net import FetchError, PolicyError, ResolveError

        for item in media:
            if not item.matches or item.page is not None or not item.page_url:
                continue
            item.page = self.pages.get(item.page_url)
            if item.page is not None:
                continue
            try:
                reply = await self.client.get(item.page_url, kind="page")
            except (PolicyError, ResolveError, FetchError) as exc:
                logger.warning("evidence: page %s not fetched: %s", item.page_url, exc)
                continue
            ex = Exchange(reply.url, reply.status, reply.request_headers, reply.headers)
            item.page = page_capture(ex, reply.body, self.page_max_bytes)
            self.pages.put(item.page_url, item.page)
            self._count("evidence_pages_fetched")

    async def _write(self, media: list[MediaItem], acks: list[Any]) -> None:
        """Write a batch and acknowledge its queue entries. A batch the store refuses (an error
        that is not an outage) is written again one queue entry at a time, so the rest of the
        batch is not held up by one poison entry; an entry refused on its own is tried again
        after a backoff and set aside as a dead letter after `media_max_attempts`."""
        await self._pages_for_evidence(media)
        try:
            try:
                await self._write_batch(media, acks)
            except Exception as exc:
                if len(acks) <= 1:
                    for ack in acks:
                        await self._refused(ack, exc)
                    return
                groups: dict[Any, list[MediaItem]] = {ack: [] for ack in acks}
                for item in media:
                    groups.setdefault(self.task_of.get(id(item)), []).append(item)
                self._count("batches_split")
                for ack, items in groups.items():
                    try:
                        await self._write_batch(items, [] if ack is None else [ack])
                    except Exception as one:
                        if ack is not None:
                            await self._refused(ack, one)
        finally:
            for item in media:
                self.task_of.pop(id(item), None)
            for ack in acks:
                self.held.pop(ack, None)

    async def _write_batch(self, media: list[MediaItem], acks: list[Any]) -> None:
        """One batch, a store outage waited out (the batch kept); anything else raised."""
        while True:
            try:
                in_store = acks if self.queue.acks_in_store else []
                await asyncio.to_thread(self.writer.write, media, [], [], in_store)
                media = []  # committed: a retry only acknowledges
                if not self.queue.acks_in_store:
                    await asyncio.to_thread(self.queue.ack, acks)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                await asyncio.sleep(self.patience.failed(exc))
                continue
            self.patience.succeeded()
            return

    async def _refused(self, ack: Any, exc: Exception) -> None:
        """The store refused the batch of queue entry `ack` alone: counted on the entry, which
        is tried again after a backoff or set aside."""
        task = self.held.get(ack)
        self._failed("store_write")
        if task is None:
            return
        error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:500]}"
        dead = await self._call(functools.partial(self.queue.fail, task, error), "fail")
        if dead:
            self._count("media_dead_lettered")
            logger.error(
                "ALERT: media %s set aside as a dead letter after %d refused writes (%s); "
                "`orbweaver media-dead-letters --replay` puts it back",
                task.url,
                self.options.media_max_attempts,
                error,
            )
        else:
            logger.warning(
                "media %s not recorded (%s): tried again after a backoff", task.url, error
            )

    async def _polite(self, host: str) -> asyncio.Semaphore:
        """The host's slot in this process (`per_host_concurrency` at a time); the shared
        budget (`_shared`) is taken inside it."""
        slot = self.hosts.get(host)
        if slot is None:
            slot = self.hosts[host] = asyncio.Semaphore(max(1, self.options.per_host_concurrency))
        return slot

    @contextlib.asynccontextmanager
    async def _shared(self, host: str) -> Any:
        """A slot of the host's budget shared with the page crawl and the other workers (and
        machines, through Redis), after its delay; without one, this process's own delay."""
        from orbweaver.crawl.politeness import acquire

        if self.budget is not None:
            token = await acquire(self.budget, host)
            try:
                yield
            finally:
                self.budget.release(host, token)
            return
        delay = self.options.download_delay_s
        if delay > 0:
            wait = self.next_start.get(host, 0.0) - time.monotonic()
            self.next_start[host] = max(time.monotonic(), self.next_start.get(host, 0.0))
            self.next_start[host] += delay
            if wait > 0:
                await asyncio.sleep(wait)
        yield

    async def _process(self, task: Task) -> None:
        try:
            items = await self._fetch_and_read(task)
            for item in items:
                await self._fingerprint(item)
        except Exception:  # one URL's failure is its own; the worker goes on
            self._failed("unexpected")
            logger.exception("media %s: failed", task.url)
            items = []
        for item in items:
            self.task_of[id(item)] = task.id
        self.results.extend(items)
        self.done.append(task.id)
        if items and self.first_result is None:
            self.first_result = self._window()

    def _window(self) -> tuple[float, float, float, int, float]:
        """The benchmark's window, first media read to last: wall clock, process CPU, the part
        of it spent fingerprinting, media read, and the time this process's threads waited for
        a core (`run_delay`: how much of the wall clock a loaded machine took from it). Read at
        the first media and at each batch written, not at every media (system calls)."""
        return (
            time.time(),
            time.process_time(),
            self.cpu_s,
            self.stats["media"],
            run_delay_s(),
        )

    async def _fetch_and_read(self, task: Task) -> list[MediaItem]:
        from orbweaver.crawl.metrics import failure_kind
        from orbweaver.net import FetchError, PolicyError, ResolveError

        host = host_of(task.url)
        kind = "archive" if task.kind == "archive" else "media"
        async with await self._polite(host), self._shared(host):
            self.fetching += 1
            try:
                reply = await self.client.get(task.url, kind=kind)
            except PolicyError as exc:
                kind = failure_kind(exc)
                if kind == "policy_refused":
                    self._count("policy_refused")
                    self._count("errors")
                else:  # too many redirects
                    self._failed(kind)
                logger.warning("not fetched %s: %s", task.url, exc)
                return []
            except (ResolveError, FetchError) as exc:
                self._failed(failure_kind(exc))
                logger.warning("fetch failed %s: %s: %s", task.url, type(exc).__name__, exc)
                return []
            finally:
                self.fetching -= 1
        if reply.status >= 300:
            self._failed(f"http_{reply.status}")
            logger.warning("fetch failed %s: HTTP %d", task.url, reply.status)
            return []
        found, _mime = sniff(reply.body)
        self._count(f"fetched/{found}")
        network = self.policy.route(reply.url)[0]
        from orbweaver.evidence import Exchange

        common: dict[str, Any] = {
            "host": host_of(reply.url),
            "page_url": task.page_url,
            "network": network,
            "reached_from_tor": task.via_tor or network == "tor",
            "exchange": Exchange(reply.url, reply.status, reply.request_headers, reply.headers),
        }
        if found == "media":
            self._count("media")
            return [MediaItem(url=reply.url, data=reply.body, **common)]
        if found == "archive":
            return await self._archive(task, reply.url, reply.body, common)
        logger.info(
            "skipped %s: linked as media, but %s (%d bytes)",
            reply.url,
            "a page" if found == "page" else "neither media nor an archive",
            len(reply.body),
        )
        return []

    async def _archive(
        self, task: Task, url: str, data: bytes, common: dict[str, Any]
    ) -> list[MediaItem]:
        from orbweaver.signals import ArchiveError, unpack

        self._count("archives")
        limits = self.options.archive_limits
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(
                self.cpu, lambda: unpack(data, passwords=task.passwords, limits=limits)
            )
        except ArchiveError as exc:
            self._failed("archive")
            logger.warning("archive %s not unpacked: %s: %s", url, type(exc).__name__, exc)
            return []
        for problem in result.problems:
            logger.warning("archive %s: %s", url, problem)
        logger.info(
            "archive %s: %d member(s)%s",
            url,
            len(result.members),
            " (password from the page)" if result.password else "",
        )
        self._count("media", len(result.members))
        return [
            MediaItem(url=url, data=m.data, archive_url=url, member_path=m.path, **common)
            for m in result.members
        ]

    async def _fingerprint(self, item: MediaItem) -> None:
        from orbweaver.crawl.hashing import fingerprint
        from orbweaver.signals import SignalError, compute_exact_signals

        assert item.data is not None
        data = item.data
        loop = asyncio.get_running_loop()
        opts = self.options

        def timed() -> tuple[Any, float]:
            start = time.thread_time()
            try:
                limits = opts.video_limits
                return fingerprint(data, opts.max_media_bytes, opts.max_pixels, limits), 0.0
            finally:
                self.cpu_s += time.thread_time() - start

        dihedral: list[str] | None = None
        try:
            (item.signals, dihedral), _ = await loop.run_in_executor(self.cpu, timed)
        except SignalError as exc:
            where = f"{item.url} [{item.member_path}]" if item.member_path else item.url
            logger.warning("media %s not decoded (%s): recorded by exact hashes only", where, exc)
            self._count("undecodable")
            item.signals = compute_exact_signals(data)
        item.matches = self.matcher.match(item.signals, dihedral=dihedral).matches


def run_delay_s() -> float:
    """Seconds this process's threads have spent runnable but waiting for a core (Linux's
    schedstat, summed over the live threads); 0.0 where the kernel does not say."""
    total = 0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return 0.0
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/schedstat", "rb") as f:
                total += int(f.read().split()[1])
        except (OSError, ValueError, IndexError):
            continue  # a thread gone meanwhile
    return total / 1e9


def _logging(options: CrawlOptions) -> None:
    fmt = "%(asctime)s [%(name)s] %(levelname)s: %(message)s"
    handler: logging.Handler
    if options.log_file:
        handler = logging.FileHandler(options.log_file, encoding="utf-8")
    else:
        handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(fmt, "%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(options.log_level)
    for noisy in ("httpx", "httpcore", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


ORPHAN_GRACE_S = 10.0  # an orphaned worker's time to write what it has before it exits


def watch_parent(orphaned: threading.Event, gone: Callable[[], None], poll_s: float = 1.0) -> None:
    """Set `orphaned` when this process's parent dies, however it died (a `kill -9` included),
    then call `gone()` after `ORPHAN_GRACE_S` unless the process has exited meanwhile.

    Two signs, either enough: the parent's sentinel (a pipe whose write end only the parent
    holds, `multiprocessing.parent_process()`, readable at EOF once it is gone, any POSIX
    system) and `os.getppid()` changing (the process reparented). Without it a worker whose page
    crawl was killed kept running, claiming and fetching, with nobody to join it."""
    from multiprocessing.connection import wait

    parent = multiprocessing.parent_process()
    sentinel = parent.sentinel if parent is not None else None
    ppid = os.getppid()

    def run() -> None:
        while True:
            if sentinel is not None:
                if wait([sentinel], timeout=poll_s):
                    break
            else:
                time.sleep(poll_s)
            if os.getppid() != ppid:
                break
        logger.error("media worker: the page crawl (pid %d) is gone; stopping", ppid)
        orphaned.set()
        time.sleep(ORPHAN_GRACE_S)
        gone()

    threading.Thread(target=run, name="media-parent-watch", daemon=True).start()


def worker_main(
    options: CrawlOptions,
    app: Settings,
    name: str,
    finished: Any,
    stop: Any,
    results: Any,
) -> None:
    """A media worker process: builds its own store, clock, policy, client and match index,
    works until the page crawl is over and the queue empty (or `stop`), and puts its counts
    on `results`."""
    from orbweaver.clock import clock_from_url
    from orbweaver.crawl.hashing import prepare_worker
    from orbweaver.net import AsyncGuardedClient, NetworkPolicy, Resolver
    from orbweaver.store import open_store

    _logging(options)
    orphaned = threading.Event()
    # the parent died: stop claiming, write what is done, exit; or exit anyway after the grace
    # (what it held goes back to the queue when its lease ends)
    watch_parent(orphaned, lambda: os._exit(3))
    prepare_worker()
    store = open_store(app.resolved_database_url, upgrade=False)
    policy = NetworkPolicy.from_settings(
        app,
        timeout=options.timeout_s,
        max_redirects=options.max_redirects,
        media_max_bytes=options.max_media_bytes,
    )
    client = AsyncGuardedClient(
        policy,
        Resolver(app.dns_servers),
        timeout=options.timeout_s,
        max_connections=max(16, options.media_in_flight),
        user_agent=USER_AGENT,
    )
    worker = MediaWorker(
        options,
        policy,
        client,
        store,
        clock_from_url(getattr(app, "clock_url", "")),
        app.suspect_key,
        name,
    )
    started = time.process_time()

    async def main() -> None:
        try:
            await worker.run(finished.is_set, lambda: stop.is_set() or orphaned.is_set())
        finally:
            await client.aclose()

    try:
        asyncio.run(main())
    finally:
        counts = dict(worker.stats)
        counts["media_worker_cpu_s"] = time.process_time() - started  # type: ignore[assignment]
        counts["hash_worker_cpu_s"] = worker.cpu_s  # type: ignore[assignment]
        first, last = worker.first_result, worker.last_result
        if first is not None and last is not None:
            counts["first_result_at"] = first[0]  # type: ignore[assignment]
            counts["last_result_at"] = last[0]  # type: ignore[assignment]
            counts["window_cpu_s"] = last[1] - first[1]  # type: ignore[assignment]
            counts["window_hash_cpu_s"] = last[2] - first[2]  # type: ignore[assignment]
            counts["window_media"] = last[3] - first[3]
            counts["window_run_delay_s"] = last[4] - first[4]  # type: ignore[assignment]
        results.put(counts)
        store.dispose()


class MediaWorkers:
    """The page crawl's media workers: N processes started before the crawl and joined after
    it (they finish the queue first). A worker that dies (killed, out of memory) is replaced:
    its claims expire and the new one takes them, so nothing it held is lost."""

    MAX_RESTARTS_PER_WORKER = 20

    def __init__(self, count: int, options: CrawlOptions, app: Settings) -> None:
        self.context = multiprocessing.get_context("spawn")  # nothing of the reactor's process
        self.options = options
        self.app = app
        self.finished = self.context.Event()
        self.stop = self.context.Event()
        self.results: Any = self.context.Queue()
        self.count = count
        self.processes: list[Any] = []
        self.restarts = 0
        self._joining = threading.Event()
        self._lock = threading.Lock()
        self._watch = threading.Thread(target=self._watchdog, name="media-watch", daemon=True)

    def _spawn(self, index: int) -> Any:
        name = f"{os.getpid()}-{index}-{self.restarts}"
        process = self.context.Process(
            target=worker_main,
            args=(self.options, self.app, name, self.finished, self.stop, self.results),
            name=f"orbweaver-media-{index}",
            daemon=True,
        )
        process.start()
        return process

    def start(self) -> None:
        self.processes = [self._spawn(i) for i in range(self.count)]
        self._watch.start()

    def _watchdog(self) -> None:
        while not self._joining.wait(1.0):
            self._replace_dead()

    def _replace_dead(self) -> None:
        with self._lock:
            for i, process in enumerate(self.processes):
                if process.is_alive() or process.exitcode in (0, None) or self.stop.is_set():
                    continue
                if self.restarts >= self.MAX_RESTARTS_PER_WORKER * self.count:
                    logger.error("ALERT: media workers keep dying; not starting another")
                    self.stop.set()
                    return
                self.restarts += 1
                logger.error(
                    "media worker %s died (exit status %s); starting another (its claims "
                    "are taken again after their lease)",
                    process.name,
                    process.exitcode,
                )
                self.processes[i] = self._spawn(i)

    def join(self, *, drain: bool) -> dict[str, float]:
        """Tell the workers the page crawl is over (`drain`: finish the queue; else stop after
        what is in flight) and wait for them; their summed counts."""
        if not drain:
            self.stop.set()
        self.finished.set()
        totals: dict[str, float] = {}
        while True:
            self._replace_dead()
            alive = [p for p in self.processes if p.is_alive()]
            if not alive:
                break
            alive[0].join(0.5)
            self._collect(totals)
        self._joining.set()
        self._collect(totals)
        return totals

    def _collect(self, totals: dict[str, float]) -> None:
        import queue

        while True:
            try:
                counts = self.results.get_nowait()
            except queue.Empty:
                return
            for key, value in counts.items():
                if key == "first_result_at":
                    totals[key] = min(totals.get(key, value), value)
                elif key == "last_result_at":
                    totals[key] = max(totals.get(key, value), value)
                else:
                    totals[key] = totals.get(key, 0) + value

    def terminate(self) -> None:
        self._joining.set()
        self.stop.set()
        for process in self.processes:
            if process.is_alive():
                with contextlib.suppress(Exception):
                    process.terminate()
