"""Review queue benchmark (issue 6): time to serve the next item of a 1M-suspect queue.

    .venv/bin/python -m benchmarks.bench_review [--n 1000000] [--iterations 2000]
        [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]

Creates a throw-away PostgreSQL database, migrates it, and bulk-loads with COPY: N media, N
sightings on 5,000 hosts, N suspects and N open review items whose priority was computed by
`orbweaver.review.priority.score` from random inputs (online share 60%, detections per host,
PDQ distances, sightings). 20 analysts have each already assessed some of the top items (500
each, the state consensus leaves behind: open items carry at most N-1 assessments), so the
query has to skip over their own work before it finds an item for them.

Measured, each over random analysts:
- next: `orbweaver.review.queue.next_item_query` (the console's query) in a fresh session;
- next view: `ReviewService.next_view` (the next item with its details, one transaction);
- request: the whole `GET /api/review/next` through the ASGI app in-process (HTTP Basic API
  key, console user lookup, the throttled sync, the next item with its details, JSON);
- request before: the same request with the serving path as it was before the details were
  folded (an unthrottled full sync, then `next_item` and `item` in two sessions, eight queries),
  reproduced here so both run under the same load;
- baseline: the naive way, computing the priority per request with ORDER BY over an aggregate
  of all sightings of open items (only online/sightings/age; host detections and PDQ distance
  would make it slower still), a handful of runs.

Synthetic data only (random hashes, no image bytes: images are not part of choosing the item).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from orbweaver.access import create_client
from orbweaver.clock import SettableClock
from orbweaver.review import imaging
from orbweaver.review.accounts import Principal
from orbweaver.review.priority import PriorityInputs, explain, score
from orbweaver.review.queue import group_media_ids, next_item_query
from orbweaver.review.service import ItemView, ReviewService, SightingView, _with_details
from orbweaver.store import Store, open_store
from orbweaver.store.models import Media, ReviewItem, Sighting, Suspect, Verdict
from orbweaver.web.app import create_app
from orbweaver.web.settings import WebSettings

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
HOSTS = 5000
ANALYSTS = 20
ASSESSED_EACH = 500


def _naive(t: datetime) -> str:
    return t.replace(tzinfo=None).isoformat(sep=" ")


def copy_rows(
    store: Store, table: str, columns: list[str], rows: Iterator[tuple[object, ...]]
) -> None:
    raw = store.engine.raw_connection()
    try:
        cursor: Any = raw.cursor()  # psycopg's cursor, with COPY support
        with cursor as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
            for row in rows:
                cp.write_row(row)
        raw.commit()
    finally:
        raw.close()


def load(store: Store, n: int, rng: random.Random) -> None:
    t0 = time.perf_counter()
    host_det = [int(rng.paretovariate(1.2)) - 1 for _ in range(HOSTS)]
    copy_rows(
        store,
        "media",
        [
            "id",
            "sha256",
            "sha1",
            "md5",
            "pdq",
            "pdq_quality",
            "size_bytes",
            "mime_type",
            "first_seen_at",
        ],
        (
            (
                i,
                f"{i:064x}",
                f"{i:040x}",
                f"{i:032x}",
                f"{rng.getrandbits(256):064x}",
                90,
                50_000,
                "image/jpeg",
                _naive(NOW - timedelta(days=30)),
            )
            for i in range(1, n + 1)
        ),
    )
    seen = {i: NOW - timedelta(hours=rng.expovariate(1 / 96)) for i in range(1, n + 1)}
    copy_rows(
        store,
        "sighting",
        ["id", "media_id", "url", "page_url", "host", "network", "reached_from_tor", "seen_at"],
        (
            (
                i,
                i,
                f"http://h{i % HOSTS}.example.test/{i}.jpg",
                f"http://h{i % HOSTS}.example.test/p/{i}",
                f"h{i % HOSTS}.example.test",
                "clear",
                False,
                _naive(seen[i]),
            )
            for i in range(1, n + 1)
        ),
    )
    copy_rows(
        store,
        "suspect",
        ["id", "sighting_id", "media_id", "status", "created_at"],
        ((i, i, i, "queued", _naive(seen[i])) for i in range(1, n + 1)),
    )

    def items() -> Iterator[tuple[object, ...]]:
        for i in range(1, n + 1):
            p = PriorityInputs(
                online=NOW - seen[i] <= timedelta(hours=72),
                last_seen_at=seen[i],
                first_seen_at=seen[i],
                sightings=1,
                hosts=1,
                top_host=f"h{i % HOSTS}.example.test",
                host_detections=host_det[i % HOSTS],
                pdq_distance=rng.randint(32, 128),
                pdq_threshold=31,
            )
            yield (
                i,
                i,
                "open",
                score(p, near=90),
                json.dumps(explain(p, NOW, near=90)),
                1,
                p.host_detections,
                p.pdq_distance,
                p.online,
                0,
                _naive(seen[i]),
                _naive(seen[i]),
                _naive(NOW),
            )

    copy_rows(
        store,
        "review_item",
        [
            "id",
            "media_id",
            "status",
            "priority",
            "reasons",
            "sightings",
            "host_detections",
            "pdq_distance",
            "online",
            "assessments",
            "first_seen_at",
            "last_seen_at",
            "updated_at",
        ],
        items(),
    )
    print(f"loaded {n:,} media/sightings/suspects/items in {time.perf_counter() - t0:.0f} s")


def add_analysts(store: Store, rng: random.Random) -> list[Principal]:
    with store.engine.begin() as conn:
        for k in range(ANALYSTS):
            conn.execute(
                sa.text(
                    "INSERT INTO review_user (id, username, role, password_hash, enabled, "
                    "blur, greyscale, mute_video, created_at) "
                    "VALUES (:id, :u, 'analyst', 'x', true, true, true, true, :t)"
                ),
                {"id": k + 1, "u": f"analyst{k}", "t": _naive(NOW)},
            )
        top = (
            conn.execute(
                sa.text(
                    "SELECT id FROM review_item WHERE status = 'open' "
                    "ORDER BY priority DESC, first_seen_at, id LIMIT :k"
                ),
                {"k": ANALYSTS * ASSESSED_EACH},
            )
            .scalars()
            .all()
        )
        shuffled = list(top)
        rng.shuffle(shuffled)
        rows = [
            {"item": item, "user": (j % ANALYSTS) + 1, "t": _naive(NOW)}
            for j, item in enumerate(shuffled)
        ]
        conn.execute(
            sa.text(
                "INSERT INTO review_assessment (item_id, user_id, category, created_at) "
                "VALUES (:item, :user, 'not_actionable', :t)"
            ),
            rows,
        )
        conn.execute(
            sa.text("UPDATE review_item SET assessments = 1 WHERE id = ANY(:ids)"),
            {"ids": list(top)},
        )
        conn.execute(sa.text("ANALYZE"))
    return [Principal(k + 1, f"analyst{k}", "analyst") for k in range(ANALYSTS)]


def timed(fn: Callable[[], object], iterations: int) -> list[float]:
    out = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def summary(name: str, ms: list[float]) -> dict[str, float]:
    ms = sorted(ms)
    pick = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]  # noqa: E731
    row = {"p50": pick(0.5), "p95": pick(0.95), "p99": pick(0.99), "max": ms[-1], "n": len(ms)}
    print(
        f"{name:>14}: n={len(ms)} p50 {row['p50']:.2f} ms  p95 {row['p95']:.2f} ms  "
        f"p99 {row['p99']:.2f} ms  max {row['max']:.2f} ms"
    )
    return row


def before_serve(service: ReviewService, who: Principal) -> ItemView | None:
    """The serving path before the details were folded (as of commit 783ee3d^)."""
    service.sync()
    item_id = service.next_item(who)
    if item_id is None:
        return None
    with service.store.session() as s:
        item = s.get_one(ReviewItem, item_id)
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
        sealed = s.execute(
            sa.select(Suspect.ciphertext, Media.sha256)
            .join(Media, Media.id == Suspect.media_id)
            .where(Suspect.media_id == item.media_id, Suspect.ciphertext.is_not(None))
            .limit(1)
        ).first()
        return ItemView(
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
            has_image=sealed is not None,
        )


NAIVE = sa.text(
    "SELECT s.media_id FROM sighting s JOIN review_item r ON r.media_id = s.media_id "
    "WHERE r.status = 'open' AND NOT EXISTS (SELECT 1 FROM review_assessment a "
    "WHERE a.item_id = r.id AND a.user_id = :u) GROUP BY s.media_id "
    "ORDER BY (max(s.seen_at) > :cut) DESC, count(*) DESC, min(s.seen_at) LIMIT 1"
)


def run(pg_admin: str, n: int, iterations: int, baseline_runs: int) -> None:
    name = f"orbweaver_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(pg_admin, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(pg_admin).set(database=name).render_as_string(False)
    store = open_store(url)
    try:
        rng = random.Random(6)
        load(store, n, rng)
        users = add_analysts(store, rng)
        clock = SettableClock(NOW)
        service = ReviewService(store, clock)
        app = create_app(WebSettings(), store, clock)
        app.state.review = service
        keys = {
            u.id: tuple(create_client(store, clock, u.username, scopes=("review",)).split(":", 1))
            for u in users
        }
        client = TestClient(app)

        def next_only() -> None:
            with store.session() as s:
                s.scalar(next_item_query(rng.choice(users).id))

        def next_view() -> None:
            assert service.next_view(rng.choice(users)) is not None

        def request() -> None:
            answer = client.get("/api/review/next", auth=keys[rng.choice(users).id])
            assert answer.status_code == 200 and answer.json()["item"] is not None

        with store.session() as s:
            plan = (
                s.execute(
                    sa.text(
                        "EXPLAIN ANALYZE "
                        + str(
                            _with_details(next_item_query(1, NOW))
                            .with_for_update(of=ReviewItem, skip_locked=True)
                            .compile(store.engine, compile_kwargs={"literal_binds": True})
                        )
                    )
                )
                .scalars()
                .all()
            )
        print("\n".join(plan))
        t0 = time.perf_counter()
        request()  # the first request after start loads the open items' PDQs into memory
        print(f"first request (loads {n:,} open PDQs): {time.perf_counter() - t0:.1f} s")
        timed(next_only, 50)  # warm the cache
        timed(request, 50)
        results = {
            "next": summary("next", timed(next_only, iterations)),
            "next view": summary("next view", timed(next_view, iterations // 2)),
            "request": summary("request", timed(request, iterations // 2)),
        }
        serve = service.serve_next
        setattr(service, "serve_next", lambda who: before_serve(service, who))  # noqa: B010
        try:
            results["request before"] = summary("request before", timed(request, iterations // 4))
        finally:
            setattr(service, "serve_next", serve)  # noqa: B010
        client.close()

        def naive() -> None:
            with store.session() as s:
                s.execute(
                    NAIVE, {"u": rng.choice(users).id, "cut": _naive(NOW - timedelta(hours=72))}
                ).first()

        results["baseline"] = summary("baseline", timed(naive, baseline_runs))
        ratio = results["baseline"]["p50"] / results["next"]["p50"]
        full = results["baseline"]["p50"] / results["request"]["p50"]
        print(
            f"baseline / next at p50: {ratio:,.0f}x, baseline / request: {full:,.0f}x; "
            f"request before / after at p99: "
            f"{results['request before']['p99'] / results['request']['p99']:.1f}x; "
            f"load average {os.getloadavg()}; cores {os.cpu_count()}, "
            f"{platform.python_version()}, PostgreSQL {store.engine.dialect.server_version_info}"
        )
    finally:
        store.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--baseline-runs", type=int, default=5)
    parser.add_argument(
        "--pg",
        default=os.environ.get(
            "ORBWEAVER_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    run(args.pg, args.n, args.iterations, args.baseline_runs)


if __name__ == "__main__":
    main()
