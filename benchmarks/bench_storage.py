"""Storage (issue 22): bytes per fetched picture that matched nothing, the store's write rate
against a bare COPY, and bytes per Redis frontier entry.

1. Bytes: after a warm-up crawl (as many pictures), N pictures written through the crawl's real
   store writer (`SightingWriter`, batches of 200 with their page visits, as the pipeline
   flushes them; 20 pictures a gallery page): (1 - r) of them unmatched on 10 hosts without
   detections, r matched on hosts of their own (a detection each). Per backend (SQLite,
   PostgreSQL) and layout ("full": a media and a sighting row each, as before issue 22;
   "compact": the new default, then `db maintain`), the store's growth (all tables and indexes:
   SQLite page count after VACUUM, per table from dbstat; PostgreSQL pg_total_relation_size of
   every table and partition, after VACUUM and after VACUUM FULL) divided by the unmatched
   pictures. Signals are random values of the real widths (a 640×480 picture's sha256, sha1,
   md5, PDQ with quality 100): hashes do not compress, so bytes are those of real pictures.
2. Write path (PostgreSQL): two processes each write M pictures through `SightingWriter` at once
   (compact, then full), against two processes COPYing the same per-picture rows (URL, page,
   host, time, signals) into an unindexed table: sightings per second and the ratio.
3. Frontier: page requests pushed through the crawl's Redis queue class (`PopMinPriorityQueue`,
   scrapy-redis's pickle encoding) and their fingerprints into the seen-set, under a private
   prefix on the configured Redis; `MEMORY USAGE` of both keys per entry.

Usage: .venv/bin/python benchmarks/bench_storage.py [--pictures 4000] [--write-pictures 20000]
       [--pg postgresql://postgres@127.0.0.1:5432/test] [--redis redis://127.0.0.1:6379/0]
Everything is synthetic; PostgreSQL databases are made and dropped by the benchmark.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from orbweaver.banks.matcher import Match
from orbweaver.clock import SettableClock
from orbweaver.crawl.frontier import PageVisit
from orbweaver.crawl.items import MediaItem
from orbweaver.crawl.options import CrawlOptions
from orbweaver.crawl.writer import SightingWriter
from orbweaver.signals import MediaSignals
from orbweaver.store import Store, maintain, new_key, open_store
from orbweaver.store.models import Bank, BankEntry, CrawlHostDay

BATCH = 200
START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _signals(rng: random.Random) -> MediaSignals:
    def hexof(n: int) -> str:
        return rng.randbytes(n).hex()

    return MediaSignals(
        sha256=hexof(32),
        sha1=hexof(20),
        md5=hexof(16),
        size_bytes=rng.randint(25_000, 60_000),
        mime_type="image/jpeg",
        pdq=hexof(32),
        pdq_quality=100,
        width=640,
        height=480,
    )


def pictures(
    n: int, match_rate: float, hosts: int, per_page: int, seed: int, match: Match | None
) -> tuple[list[MediaItem], list[PageVisit], int]:
    """Pictures on gallery pages: unmatched ones spread over `hosts` clean hosts, each matched
    one alone on a host of its own. Returns (items, page visits, unmatched count)."""
    rng = random.Random(seed)
    items: list[MediaItem] = []
    pages: list[PageVisit] = []
    matched = round(n * match_rate) if match is not None else 0
    every = n // matched if matched else n + 1
    unmatched = 0
    for i in range(n):
        if matched and i % every == every - 1 and i // every < matched:
            host = f"www.hit{seed}-{i}.example"
            page = f"http://{host}/gallery/{i // per_page}/"
            found = [match]
        else:
            host = f"www.site{seed}-{i % hosts}.example"
            page = f"http://{host}/gallery/{(i // hosts) // per_page}/"
            found = []
            unmatched += 1
        items.append(
            MediaItem(
                url=f"{page}img_{i:07d}.jpg",
                host=host,
                page_url=page,
                network="clear",
                reached_from_tor=False,
                data=b"\x00" * 1024,
                signals=_signals(rng),
                matches=[m for m in found if m is not None],
            )
        )
    seen: set[str] = set()
    for item in items:
        if item.page_url and item.page_url not in seen:
            seen.add(item.page_url)
            pages.append(
                PageVisit(
                    url=item.page_url,
                    host=item.host,
                    network="clear",
                    reached_from_tor=False,
                    depth=1,
                    media_links=per_page,
                    seed=False,
                )
            )
    return items, pages, unmatched


def known_entry(store: Store) -> Match:
    with store.session() as s:
        bank = Bank(name="known", created_at=START)
        s.add(bank)
        s.flush()
        entry = BankEntry(
            bank_id=bank.id,
            signal_type="sha256",
            signal="00" * 32,
            category="csam_prepubescent",
            added_at=START,
        )
        s.add(entry)
        s.flush()
        return Match("known", bank.id, entry.id, "csam_prepubescent", "sha256", 0)


def write_all(store: Store, items: list[MediaItem], pages: list[PageVisit], mode: str) -> float:
    """Through the real writer, a batch at a time with the batch's page visits; seconds taken."""
    clock = SettableClock(START)
    writer = SightingWriter(
        store, clock, CrawlOptions(unmatched=mode), new_key(), lambda k, n: None
    )
    by_page: dict[str, list[PageVisit]] = {p.url: [p] for p in pages}
    started = time.perf_counter()
    for i in range(0, len(items), BATCH):
        batch = items[i : i + BATCH]
        visits = {p.url: p for item in batch for p in by_page.pop(item.page_url or "", [])}
        writer.write(batch, list(visits.values()))
    return time.perf_counter() - started


# -- sizes -------------------------------------------------------------------------------------


def sqlite_size(store: Store) -> tuple[int, dict[str, int]]:
    with store.engine.connect() as conn:
        conn.execute(sa.text("VACUUM"))
        pages = conn.scalar(sa.text("PRAGMA page_count")) or 0
        size = conn.scalar(sa.text("PRAGMA page_size")) or 0
        try:
            tables = dict(
                conn.execute(sa.text("SELECT name, sum(pgsize) FROM dbstat GROUP BY name")).all()
            )
        except sa.exc.OperationalError:
            tables = {}
    return int(pages) * int(size), {k: int(v) for k, v in tables.items()}


def pg_size(store: Store, full: bool) -> tuple[int, dict[str, int]]:
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM FULL" if full else "VACUUM"))
        rows = conn.execute(
            sa.text(
                "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind = 'r'"
            )
        ).all()
    tables = {name: int(size) for name, size in rows}
    return sum(tables.values()), tables


def _delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    out = {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before)}
    return {k: v for k, v in sorted(out.items(), key=lambda kv: -kv[1]) if v}


class PgDatabase:
    """A database of the benchmark's own on the shared server, dropped at the end."""

    def __init__(self, admin_url: str) -> None:
        self.admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.name = f"bench_storage_{uuid.uuid4().hex[:8]}"
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{self.name}"'))
        self.url = sa.engine.make_url(admin_url).set(database=self.name).render_as_string(False)

    def drop(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


def measure_bytes(args: argparse.Namespace, backend: str, mode: str) -> dict[str, Any]:
    tmp = tempfile.mkdtemp(prefix="bench-storage-")
    db = PgDatabase(args.pg) if backend == "postgresql" else None
    store = open_store(db.url if db else f"sqlite:///{tmp}/store.db")
    try:
        match = known_entry(store)
        if db:
            maintain(store, START, 90)  # the day's partitions, as a deployment's timer does
        # steady state: the marginal cost after a warm-up crawl (tables past their first pages)
        warm, warm_pages, _ = pictures(
            args.warmup, args.match_rate, args.hosts, args.per_page, 2, match
        )
        write_all(store, warm, warm_pages, mode)
        if mode == "compact":
            maintain(store, START + timedelta(minutes=30), 90)
        items, pages, unmatched = pictures(
            args.pictures, args.match_rate, args.hosts, args.per_page, 1, match
        )
        sizes = (lambda: sqlite_size(store)) if db is None else (lambda: pg_size(store, False))
        before, before_tables = sizes()
        before_full = pg_size(store, True) if db else None
        seconds = write_all(store, items, pages, mode)
        if mode == "compact":
            maintain(store, START + timedelta(hours=1), 90)
        after, after_tables = sizes()
        result: dict[str, Any] = {
            "backend": backend,
            "layout": mode,
            "pictures": len(items),
            "unmatched": unmatched,
            "matched": len(items) - unmatched,
            "pages": len(pages),
            "bytes_per_unmatched": round((after - before) / unmatched, 1),
            "tables_bytes_per_unmatched": {
                k: round(v / unmatched, 1) for k, v in _delta(after_tables, before_tables).items()
            },
            "write_s": round(seconds, 2),
        }
        if db and before_full is not None:
            after_full = pg_size(store, True)
            result["bytes_per_unmatched_vacuum_full"] = round(
                (after_full[0] - before_full[0]) / unmatched, 1
            )
        return result
    finally:
        store.dispose()
        if db:
            db.drop()


# -- write path ----------------------------------------------------------------------------------


def _writer_proc(url: str, mode: str, n: int, seed: int, start: Any, out: Any) -> None:
    store = open_store(url, upgrade=False)
    items, pages, _ = pictures(n, 0.0, 50, 20, seed, None)
    start.wait()
    cpu = time.process_time()
    write_all(store, items, pages, mode)
    out.put(time.process_time() - cpu)
    store.dispose()


def _copy_proc(url: str, n: int, seed: int, start: Any, out: Any) -> None:
    import psycopg

    items, _, _ = pictures(n, 0.0, 50, 20, seed, None)
    rows = [
        (
            i.url,
            i.page_url,
            i.host,
            START,
            i.signals.sha256,
            i.signals.sha1,
            i.signals.md5,
            i.signals.pdq,
            i.signals.pdq_quality,
            i.signals.size_bytes,
            i.signals.mime_type,
        )
        for i in items
    ]
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        start.wait()
        started = time.perf_counter()
        for b in range(0, len(rows), BATCH):
            with (
                conn.cursor() as cur,
                cur.copy(
                    "COPY bare_sighting (url, page_url, host, seen_at, sha256, sha1, md5, pdq, "
                    "pdq_quality, size_bytes, mime_type) FROM STDIN"
                ) as copy,
            ):
                for row in rows[b : b + BATCH]:
                    copy.write_row(row)
            conn.commit()
        out.put(time.perf_counter() - started)


def _race(target: Any, argsets: list[tuple[Any, ...]]) -> tuple[float, list[float]]:
    """Processes started, each ready to go; wall seconds from the go to the last one done, and
    what each process reported (its CPU seconds, for the writers)."""
    ctx = mp.get_context("fork")
    start, out = ctx.Barrier(len(argsets) + 1), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*a, start, out)) for a in argsets]
    for p in procs:
        p.start()
    start.wait()
    began = time.perf_counter()
    reported = [out.get(timeout=1800) for _ in procs]
    wall = time.perf_counter() - began
    for p in procs:
        p.join()
    return wall, reported


def measure_write_path(args: argparse.Namespace) -> dict[str, Any]:
    n = args.write_pictures
    result: dict[str, Any] = {"pictures_per_process": n, "processes": 2}
    for mode in ("compact", "full"):
        db = PgDatabase(args.pg)
        try:
            store = open_store(db.url)
            maintain(store, START, 90)
            store.dispose()
            wall, cpu = _race(_writer_proc, [(db.url, mode, n, 10), (db.url, mode, n, 11)])
            result[f"writer_{mode}_per_s"] = round(2 * n / wall)
            result[f"writer_{mode}_client_cpu_ms_per_picture"] = round(1000 * sum(cpu) / (2 * n), 3)
        finally:
            db.drop()
    db = PgDatabase(args.pg)
    try:
        engine = sa.create_engine(db.url.replace("postgresql://", "postgresql+psycopg://"))
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "CREATE TABLE bare_sighting (url text, page_url text, host varchar(255), "
                    "seen_at timestamp, sha256 varchar(64), sha1 varchar(40), md5 varchar(32), "
                    "pdq varchar(64), pdq_quality int, size_bytes bigint, mime_type varchar(100))"
                )
            )
        engine.dispose()
        url = db.url.replace("postgresql://", "postgresql+psycopg://")
        wall, _ = _race(_copy_proc, [(url, n, 10), (url, n, 11)])
        result["bare_copy_per_s"] = round(2 * n / wall)
    finally:
        db.drop()
    for mode in ("compact", "full"):
        result[f"writer_{mode}_vs_copy"] = round(
            result[f"writer_{mode}_per_s"] / result["bare_copy_per_s"], 3
        )
    return result


# -- the plan checked: a real crawl, scaled down -------------------------------------------------

# The plan's per-picture figures (docs/scaling.md, from BENCHMARKS.md "Crawl" and the bytes above):
# CPU of the crawl process (1.53 ms) + its hashing worker (0.86 ms) + pages (0.05 ms); bytes of a
# picture that matched nothing on one clean host, 20 a page (SQLite, `--hosts 1`, 2026-12-04
# 23:58 UTC): signals with their blocks' filters 62.1 + page schedule 13.4 + seen URLs 10.3.
PLAN_CPU_MS = 1.53 + 0.86 + 0.05
# Pure hashing in one thread on the same quiet machine and day as PLAN_CPU_MS (BENCHMARKS.md
# "Crawl", quiet: 1,591 media/s): the check hashes the same kind of pictures in the same run to
# measure how much CPU time itself costs more at the load it runs under.
QUIET_HASH_MS = 1000 / 1591


def hashing_cpu_ms(images: list[bytes]) -> float:
    """CPU ms a picture of `compute_signals` in this process, one BLAS thread, best of 3."""
    from orbweaver.signals import compute_signals
    from orbweaver.signals.blas import limit_blas_threads

    limit_blas_threads(1)
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        for data in images:
            compute_signals(data)
        best = min(best, (time.process_time() - start) * 1000 / len(images))
    return best


PLAN_BYTES_ONE_HOST = 62.1 + 13.4 + 10.3


def check_plan(args: argparse.Namespace) -> dict[str, Any]:
    """`orbweaver crawl` (one process, hashing workers on every core, compact layout, SQLite)
    over `bench_crawl`'s site of synthetic 640×480 JPEGs on one host without detections: media
    per CPU-second and store bytes per picture against what the plan predicts."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_crawl

    per_page = 20
    pages = max(1, args.check_pictures // per_page)
    images = [bench_crawl.jpeg(i) for i in range(pages * per_page)]
    routes = bench_crawl.site(pages, per_page, 0, images)
    routes["/empty"] = b"<html><body>nothing here</body></html>"
    server, port = bench_crawl.start_server(routes)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            empty = open_store(f"sqlite:///{tmp}/empty.db")
            baseline, _ = sqlite_size(empty)
            empty.dispose()
            cores = os.cpu_count() or 1

            def timed(seed: str) -> tuple[float, float]:
                """CPU and wall seconds of one `orbweaver crawl` from `seed`: the CPU of every
                process under this one (crawler, forkserver, hashing workers, bank commands),
                sampled every 50 ms by psutil and summed per process at its last sample. The
                children's rusage missed the hashing workers: their forkserver is not waited
                for by the crawler, so their CPU never reaches this process's RUSAGE_CHILDREN
                (the check of 2026-12-04 23:59 counted 2.55 ms a picture, the reactor's alone)."""
                import threading

                import psutil

                last: dict[int, float] = {}
                done = threading.Event()
                me = psutil.Process()

                def sample() -> None:
                    while not done.is_set():
                        for proc in me.children(recursive=True):
                            try:
                                t = proc.cpu_times()
                                last[proc.pid] = t.user + t.system
                            except psutil.Error:
                                pass
                        done.wait(0.05)

                sampler = threading.Thread(target=sample, daemon=True)
                sampler.start()
                began = time.perf_counter()
                bench_crawl.crawl(port, seed, Path(tmp), [], processes=1, hash_processes=cores)
                wall = time.perf_counter() - began
                done.set()
                sampler.join()
                return sum(last.values()), wall

            # the same crawl of a page without media: start-up and shutdown, subtracted
            sample = images[:300]
            hash_before = hashing_cpu_ms(sample)
            load = [os.getloadavg()[0]]
            fixed_cpu, fixed_wall = timed("/empty")
            cpu, wall = timed("/")
            load.append(os.getloadavg()[0])
            hash_after = hashing_cpu_ms(sample)
            cpu, wall = cpu - fixed_cpu, wall - fixed_wall
            store = open_store(f"sqlite:///{tmp}/bench-_.db", upgrade=False)
            maintain(store, datetime.now(UTC) + timedelta(seconds=1), 90)  # the daily timer
            with store.session() as s:
                media = int(s.scalar(sa.select(sa.func.sum(CrawlHostDay.fetched))) or 0)
            size, tables = sqlite_size(store)
            store.dispose()
    finally:
        server.kill()
    per_cpu_s = media / max(cpu, 1e-9)
    measured_bytes = (size - baseline) / max(media, 1)
    plan_rate = 1000 / PLAN_CPU_MS
    hash_ms = (hash_before + hash_after) / 2
    inflation = hash_ms / QUIET_HASH_MS
    return {
        "load_average_before_after_crawl": load,
        "pictures": media,
        "media_per_s_wall": round(media / wall, 1),
        "media_per_cpu_s": round(per_cpu_s, 1),
        "start_up_cpu_s_subtracted": round(fixed_cpu, 2),
        "plan_media_per_cpu_s": round(plan_rate, 1),
        "cpu_measured_vs_plan": round(per_cpu_s / plan_rate, 2),
        "pure_hashing_cpu_ms_before_after": [round(hash_before, 3), round(hash_after, 3)],
        "pure_hashing_cpu_ms_quiet": round(QUIET_HASH_MS, 3),
        "cpu_inflation_same_run": round(inflation, 2),
        "cpu_measured_vs_plan_at_this_load": round(per_cpu_s * inflation / plan_rate, 2),
        "bytes_per_picture": round(measured_bytes, 1),
        "plan_bytes_per_picture": PLAN_BYTES_ONE_HOST,
        "bytes_measured_vs_plan": round(measured_bytes / PLAN_BYTES_ONE_HOST, 2),
        "tables_bytes_per_picture": {
            k: round(v / max(media, 1), 1) for k, v in tables.items() if v > 4096
        },
    }


# -- frontier ----------------------------------------------------------------------------------


def measure_frontier(args: argparse.Namespace) -> dict[str, Any]:
    import redis
    import scrapy
    from scrapy.utils.request import RequestFingerprinter

    from orbweaver.crawl.middlewares import PopMinPriorityQueue

    server = redis.Redis.from_url(args.redis)
    prefix = f"bench-storage-{uuid.uuid4().hex[:8]}"
    spider = scrapy.Spider(name="orbweaver")
    queue = PopMinPriorityQueue(server, spider, f"{prefix}:requests")
    fingerprints = RequestFingerprinter()
    n = args.frontier_entries
    try:
        for i in range(n):
            page = f"http://www.site-{i % 1000}.example/gallery/{i // 1000}/"
            request = scrapy.Request(
                f"{page}page-{i}.html",
                priority=-1,
                meta={"kind": "page", "depth": 2, "page_url": page},
            )
            queue.push(request)
            server.sadd(f"{prefix}:seen", fingerprints.fingerprint(request).hex())
        queued = server.memory_usage(f"{prefix}:requests", samples=0) or 0
        seen = server.memory_usage(f"{prefix}:seen", samples=0) or 0
    finally:
        server.delete(f"{prefix}:requests", f"{prefix}:seen")
    return {
        "entries": n,
        "queued_bytes_per_entry": round(queued / n, 1),
        "seen_bytes_per_entry": round(seen / n, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pictures", type=int, default=4000)
    parser.add_argument("--match-rate", type=float, default=0.01)
    parser.add_argument("--warmup", type=int, default=4000)
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--per-page", type=int, default=20)
    parser.add_argument("--write-pictures", type=int, default=20_000)
    parser.add_argument("--frontier-entries", type=int, default=50_000)
    parser.add_argument("--pg", default=os.environ.get("ORBWEAVER_TEST_PG_URL", ""))
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--check-pictures", type=int, default=2000)
    parser.add_argument("--only", choices=["bytes", "write", "frontier", "check"], default=None)
    args = parser.parse_args()
    if not args.pg:
        args.pg = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    load_before = os.getloadavg()
    result: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="minutes")}
    if args.only in (None, "bytes"):
        result["bytes"] = [
            measure_bytes(args, backend, mode)
            for backend in ("sqlite", "postgresql")
            for mode in ("full", "compact")
        ]
    if args.only in (None, "write"):
        result["write_path"] = measure_write_path(args)
    if args.only in (None, "frontier"):
        result["frontier"] = measure_frontier(args)
    if args.only in (None, "check"):
        result["check"] = check_plan(args)
    result["load_average_before_after"] = [round(load_before[0], 2), round(os.getloadavg()[0], 2)]
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
