"""Benchmark: Figure 1.0 and Table 1.0 over 5.4 million synthetic detections (issue 8).

Fills a fresh store (SQLite file or a PostgreSQL database) with Table 1.0-shaped data — 760
providers, 626,110 notices, 5,416,713 detections on sightings of 1M media — then times
`load_inputs` + `build_report` pinned to one core, against a naive baseline that loads notices
as ORM objects and computes durations in Python.

    .venv/bin/python -m benchmarks.bench_reports --backend sqlite [--scale 1.0] [--no-baseline]
    .venv/bin/python -m benchmarks.bench_reports --backend postgresql
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from orbweaver.sim.scenario import SCENARIO_DIR
from orbweaver.store import Store, open_store

SEED_TABLE = SCENARIO_DIR / "table-1.0.csv"
T0 = datetime(2019, 1, 1)
DETECTIONS = 5_416_713
NOTICES = 626_110
MEDIA = 1_000_000
PROVIDERS = 760
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def seed_providers() -> list[dict[str, str]]:
    with SEED_TABLE.open() as f:
        return list(csv.DictReader(f))


def chunks(rows: Iterable[tuple[Any, ...]], size: int = 100_000) -> Iterator[list[tuple[Any, ...]]]:
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def bulk(store: Store, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> None:
    """Insert fast: COPY on PostgreSQL, one executemany transaction on SQLite."""
    raw = store.engine.raw_connection()
    try:
        cursor = raw.cursor()
        if store.dialect == "postgresql":
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" for _ in columns)
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
            for batch in chunks(rows):
                cursor.executemany(sql, batch)
        raw.commit()
    finally:
        raw.close()


def populate(store: Store, scale: float, rng: np.random.Generator) -> dict[str, int]:
    n_det, n_not, n_media = (max(1, int(x * scale)) for x in (DETECTIONS, NOTICES, MEDIA))
    seed = seed_providers()
    names = [r["esp"] for r in seed] + [f"Provider {i:03d}" for i in range(PROVIDERS - len(seed))]
    types = [r["service_type"] for r in seed] + ["hosting_provider"] * (PROVIDERS - len(seed))
    weights = np.array(
        [float(r["verified_images_targeted"]) for r in seed] + [300.0] * (PROVIDERS - len(seed))
    )
    medians = np.array(
        [float(r["removal_median_days"]) for r in seed] + [2.0] * (PROVIDERS - len(seed))
    )
    recid = np.array([float(r["recidivism_rate"]) for r in seed] + [0.4] * (PROVIDERS - len(seed)))
    bulk(
        store,
        "provider",
        ("id", "name", "service_type", "digest", "created_at", "updated_at"),
        ((i + 1, n, t, False, T0, T0) for i, (n, t) in enumerate(zip(names, types, strict=True))),
    )
    bulk(
        store,
        "bank",
        ("id", "name", "enabled", "pdq_threshold", "description", "created_at"),
        [(1, "known", True, 31, "", T0)],
    )
    bulk(
        store,
        "bank_entry",
        ("id", "bank_id", "signal_type", "signal", "category", "source", "added_at"),
        [(1, 1, "sha256", "0" * 64, "csam_prepubescent", "bench", T0)],
    )
    bulk(
        store,
        "media",
        ("id", "sha256", "sha1", "md5", "size_bytes", "first_seen_at"),
        ((i, f"{i:064x}", f"{i:040x}", f"{i:032x}", 1000, T0) for i in range(1, n_media + 1)),
    )
    days = rng.integers(0, 3 * 365, n_det)
    tor = rng.random(n_det) < 0.03
    bulk(
        store,
        "sighting",
        ("id", "media_id", "url", "page_url", "host", "network", "reached_from_tor", "seen_at"),
        (
            (
                i + 1,
                int(i % n_media) + 1,
                f"http://h{i % 5000}.test/{i}.jpg",
                None,
                f"h{i % 5000}.test",
                "tor" if tor[i] and i % 7 == 0 else "clear",
                bool(tor[i]),
                T0 + timedelta(days=int(days[i])),
            )
            for i in range(n_det)
        ),
    )
    post = rng.random(n_det) < 0.034
    bulk(
        store,
        "detection",
        (
            "id",
            "sighting_id",
            "bank_entry_id",
            "signal_type",
            "distance",
            "category",
            "detected_at",
        ),
        (
            (
                i + 1,
                i + 1,
                1,
                "sha256",
                0,
                "csam_postpubescent" if post[i] else "csam_prepubescent",
                T0 + timedelta(days=int(days[i])),
            )
            for i in range(n_det)
        ),
    )
    provider = rng.choice(PROVIDERS, n_not, p=weights / weights.sum())
    true = rng.lognormal(np.log(medians[provider]), 1.5)
    sent = rng.integers(0, 3 * 365, n_not)
    horizon = 3 * 365 + 30 - sent
    removed = true < horizon
    recidivist = rng.random(n_not) < recid[provider]
    archive = rng.random(n_not) < 0.02

    def notice_rows() -> Iterator[tuple[Any, ...]]:
        for i in range(n_not):
            s = T0 + timedelta(days=int(sent[i]))
            gone = removed[i]
            yield (
                i + 1,
                f"http://h{i % 5000}.test/n{i}",
                "archive" if archive[i] else "media",
                f"h{i % 5000}.test",
                "clear",
                int(provider[i]) + 1,
                0,
                str(uuid.UUID(int=i)),
                "csam_prepubescent",
                "[]",
                "removed" if gone else "open",
                bool(recidivist[i]),
                int(min(true[i], horizon[i])) + 1,
                0,
                s,
                s,
                s + timedelta(days=float(true[i])) if gone else None,
                s + timedelta(days=float(horizon[i])) if not gone else None,
                0,
                0,
            )

    bulk(
        store,
        "notice",
        (
            "id",
            "url",
            "kind",
            "host",
            "network",
            "provider_id",
            "generation",
            "report_id",
            "category",
            "chain",
            "status",
            "recidivist",
            "rounds_sent",
            "escalation_level",
            "created_at",
            "first_sent_at",
            "removed_at",
            "last_online_at",
            "checks_done",
            "miss_count",
        ),
        notice_rows(),
    )

    # Each notice covers one detection (n_not <= n_det); archives cover three.
    def item_rows() -> Iterator[tuple[Any, ...]]:
        item = 0
        for i in range(n_not):
            for k in range(3 if archive[i] else 1):
                det = (i * 3 + k) % n_det + 1
                item += 1
                yield (item, i + 1, det, (det - 1) % n_media + 1, None, "csam_prepubescent")

    bulk(
        store,
        "notice_item",
        ("id", "notice_id", "detection_id", "media_id", "member_path", "category"),
        item_rows(),
    )
    if store.dialect == "postgresql":
        # As autovacuum would in production: statistics, and the visibility map that lets
        # counts over detections be answered from the (category, sighting) index alone.
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    return {"detections": n_det, "notices": n_not, "media": n_media}


def time_report(store: Store) -> tuple[float, dict[str, Any]]:
    from orbweaver.reports.load import load_inputs
    from orbweaver.reports.tables import build_report

    start = time.perf_counter()
    report = build_report(load_inputs(store))
    return time.perf_counter() - start, report.contract()


def time_naive(store: Store) -> float:
    """Baseline: ORM objects for every notice and its provider, durations in Python."""
    from orbweaver.reports.survival import removal_stats
    from orbweaver.store.models import Detection, Notice

    start = time.perf_counter()
    with store.session() as session:
        notices = session.scalars(sa.select(Notice).where(Notice.first_sent_at.is_not(None))).all()
        by_provider: dict[str, list[tuple[float, bool]]] = {}
        for n in notices:
            assert n.first_sent_at is not None
            end = n.removed_at or n.last_online_at or n.first_sent_at
            name = n.provider.name if n.provider else "?"
            by_provider.setdefault(name, []).append(
                ((end - n.first_sent_at).total_seconds() / 86400, n.removed_at is not None)
            )
        session.scalar(sa.select(sa.func.count()).select_from(Detection))
    for rows in by_provider.values():
        removal_stats([d for d, _ in rows], [r for _, r in rows])
    return time.perf_counter() - start


def open_backend(backend: str, workdir: Path, keep: str | None = None) -> tuple[Store, Any]:
    """A fresh store, or with `keep` one kept between runs (a file under /tmp, a PG database)."""
    if backend == "sqlite":
        path = Path(f"/tmp/{keep}.db") if keep else workdir / "bench-reports.db"
        return open_store(f"sqlite:///{path}"), None
    name = keep or f"orbweaver_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.exec_driver_sql(
            "SELECT 1 FROM pg_database WHERE datname = %(n)s", {"n": name}
        ).scalar()
        if not exists:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(PG_ADMIN).set(database=name).render_as_string(False)
    return open_store(url), None if keep else (admin, name)


def is_populated(store: Store) -> bool:
    with store.engine.connect() as conn:
        return bool(conn.exec_driver_sql("SELECT COUNT(*) FROM notice").scalar())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument(
        "--keep",
        metavar="NAME",
        help="keep the filled store between runs (/tmp/NAME.db or PostgreSQL database NAME)",
    )
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the issue asks
    with tempfile.TemporaryDirectory() as tmp:
        store, pg = open_backend(args.backend, Path(tmp), args.keep)
        try:
            if not is_populated(store):
                start = time.perf_counter()
                sizes = populate(store, args.scale, np.random.default_rng(2021))
                print(f"populated {sizes} in {time.perf_counter() - start:.0f} s")
            times = []
            for _ in range(args.repeats):
                elapsed, contract = time_report(store)
                times.append(elapsed)
            best = min(times)
            print(
                f"report: best {best:.2f} s of {[round(t, 2) for t in times]} "
                f"(target < 10 s: {best / 10:.2f}x of the budget)"
            )
            print(f"summary: {contract['summary']}")
            if not args.no_baseline:
                naive = time_naive(store)
                print(f"naive ORM baseline: {naive:.2f} s; orbweaver is {naive / best:.1f}x faster")
        finally:
            store.dispose()
            if pg is not None:
                admin, name = pg
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
