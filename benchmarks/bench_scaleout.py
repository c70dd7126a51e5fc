"""Scale-out (issue 13): one `orbweaver run --roles notify,monitor` against two, on one PostgreSQL
of the benchmark's own (initdb into a temporary folder) and a backlog of synthetic notices.

- notify: N detections already attributed (one provider each), delivered to a loopback SMTP
  sink; the time from start until every outbox row is sent, per configuration. Checked: every
  Message-ID received once (no duplicate notice) and, with two, how the sends split between the
  two processes (each process's `orbweaver_notices_messages_sent_total`).
- monitor: the same N notices, re-pointed at a loopback web server and made due at once; the
  time until each has had its re-check, and the split of the checks.

- crawl (`--crawl-scale S`): one `orbweaver run --roles crawl` against two on one PostgreSQL and
  one Redis frontier of the benchmark's own, the same simulated world (scenarios/small.toml at
  scale S, the same seed) crawled from its seeds, written once every process is up and ready;
  the time until the last page, sighting or detection is recorded. Checked: no file fetched
  twice (the world counts how often each file's bytes were served), no duplicate sighting, the
  same pages and sightings as with one process, and how the pages split between the two.

Throughput ratio = time with one / time with two (same backlog, same run), timed from when the
backlog is written, every process already up and ready.

Usage: .venv/bin/python benchmarks/bench_scaleout.py [--notices 400] [--crawl-scale 2]
       [--only crawl|notify]
Everything is synthetic (labels, random bytes and the simulated world's generated pictures), on
loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import sqlalchemy as sa

from orbweaver.clock import SystemClock
from orbweaver.store import open_store
from orbweaver.store.models import Check, Notice, Outbox
from roles.world import Service, StallingSink, get, notices_world, role_env, wait_for
from supervise.private_pg import PrivatePostgres


class _Site(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = os.urandom(256)
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def database(pg: PrivatePostgres, name: str) -> str:
    admin = sa.create_engine(pg.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return sa.engine.make_url(pg.url).set(database=name).render_as_string(False)


def counted(svc: Service, setting: str, name: str) -> float:
    try:
        return svc.metric(setting, name)
    except AssertionError:
        return 0.0


def trial(pg: PrivatePostgres, n: int, instances: int, work: Path) -> dict[str, Any]:
    url = database(pg, f"scale{instances}")
    store = open_store(url)
    site = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    out: dict[str, Any] = {"instances": instances}
    with StallingSink() as sink:
        services = []
        for k in range(instances):
            env = role_env(
                url,
                str(work / f"var{instances}-{k}"),
                notify_every_s=0.2,
                monitor_every_s=0.2,
                smtp_host="127.0.0.1",
                smtp_port=sink.port,
                crawl_allow_networks="127.0.0.1/32",
                recheck_schedule_hours="24",
                offline_confirm_misses=1,
                monitor_batch_size=50,
                monitor_concurrency=8,
            )
            env["ORBWEAVER_MONITOR_LEASE_S"] = "300"
            services.append(Service(env, work, "--roles", "notify,monitor"))
        try:
            urls = [  # every process up and ready before the backlog arrives
                svc.url(setting, "/readyz")
                for svc in services
                for setting in ("notify_health_port", "monitor_health_port")
            ]
            wait_for("roles ready", lambda: all(get(u)[0] == 200 for u in urls), 300)
            notices_world(store, SystemClock(), [f"h{i}.test" for i in range(n)])
            started = time.monotonic()

            def sent() -> int:
                with store.session() as s:
                    return int(
                        s.scalar(sa.select(sa.func.count()).where(Outbox.status == "sent")) or 0
                    )

            wait_for("every notice sent", lambda: sent() >= n, 900)
            out["notify_seconds"] = round(time.monotonic() - started, 2)
            copies = Counter(str(m["Message-ID"]) for m in sink.messages)
            out["messages"] = len(copies)
            out["duplicates"] = sum(1 for c in copies.values() if c > 1)
            out["sent_by_process"] = [
                counted(svc, "notify_health_port", "orbweaver_notices_messages_sent_total")
                for svc in services
            ]
            # the monitor's backlog: every notice due now, on the loopback site
            port = site.server_port
            with store.session() as s:
                for notice in s.scalars(sa.select(Notice)):
                    notice.url = f"http://127.0.0.1:{port}/n{notice.id}.jpg"
                    notice.next_check_at = datetime.now(UTC).replace(tzinfo=None)
            started = time.monotonic()

            def checked() -> int:
                with store.session() as s:
                    return int(
                        s.scalar(sa.select(sa.func.count(sa.distinct(Check.notice_id)))) or 0
                    )

            wait_for("every notice re-checked", lambda: checked() >= n, 900)
            out["monitor_seconds"] = round(time.monotonic() - started, 2)
            with store.session() as s:
                out["checks"] = int(s.scalar(sa.select(sa.func.count()).select_from(Check)) or 0)
            out["checks_by_process"] = [
                sum(
                    counted(
                        svc,
                        "monitor_health_port",
                        f'orbweaver_monitor_checks_total{{outcome="{o}"}}',
                    )
                    for o in ("online", "changed", "offline")
                )
                for svc in services
            ]
        finally:
            for svc in services:
                svc.kill()
            site.shutdown()
            store.dispose()
    return out


CRAWL_PORTS = ("supervisor_health_port", "crawl_health_port")


def crawl_trial(
    pg: PrivatePostgres, redis: Any, instances: int, work: Path, scale: float, seed: int
) -> dict[str, Any]:
    """One world crawled from its seeds by `instances` crawl roles on one store and frontier."""
    from faults.campaign import Run
    from faults.campaign import Service as RunService
    from orbweaver.clock import SettableClock
    from orbweaver.crawl.frontier import add_seeds
    from orbweaver.store.models import CrawlPage, CrawlSeed, Detection, Sighting
    from roles.world import free_ports

    name = f"crawl{instances}"
    run = Run(
        work / name, pg, redis, name=name, seed=seed, scale=scale, days=1, crawl_every_days=30
    )
    with run.store.session() as s:  # the seeds wait until every process is ready
        seeds = list(s.scalars(sa.select(CrawlSeed.url)))
        s.execute(sa.delete(CrawlSeed))
    base = run.env()
    services = []
    out: dict[str, Any] = {"instances": instances, "seeds": len(seeds)}
    try:
        for k in range(instances):
            env = dict(base)
            if k:
                ports = free_ports(len(CRAWL_PORTS))
                env.update(
                    {
                        f"ORBWEAVER_{p.upper()}": str(n)
                        for p, n in zip(CRAWL_PORTS, ports, strict=True)
                    }
                )
            services.append(RunService(env, run.work, "--roles", "crawl"))
        urls = [svc.url("crawl_health_port", "/readyz") for svc in services]
        wait_for("crawl roles ready", lambda: all(get(u)[0] == 200 for u in urls), 300)
        started = time.monotonic()
        add_seeds(run.store, SettableClock(run.world.clock.now()), seeds)
        last: Any = None
        changed = time.monotonic()
        while time.monotonic() - changed < 12.0:  # past the daemons' 5 s idle checks
            time.sleep(0.5)
            counts = (run._counts(), redis.queued(run.prefix))
            if counts != last or counts[1]:
                last, changed = counts, time.monotonic()
        out["crawl_seconds"] = round(changed - started, 2)
        served = run.world.sites.items_served
        with run.store.session() as s:
            pages = set(s.scalars(sa.select(CrawlPage.url)))
            sightings = list(s.execute(sa.select(Sighting.url, Sighting.media_id)))
            out["detections"] = int(
                s.scalar(sa.select(sa.func.count()).select_from(Detection)) or 0
            )
        out["pages"] = len(pages)
        out["sightings"] = len(sightings)
        out["duplicate_sightings"] = len(sightings) - len(set(sightings))
        out["files_served"] = sum(served.values())
        out["files_fetched_twice"] = sum(1 for n in served.values() if n > 1)
        out["pages_by_process"] = [
            counted(svc, "crawl_health_port", "orbweaver_crawl_pages_total") for svc in services
        ]
        out["restarts"] = sum(
            int(r.get("restarts", 0)) for svc in services for r in svc.roles().values()
        )
        out["_pages"], out["_sightings"] = pages, {u for u, _ in sightings}
    finally:
        for svc in services:
            svc.kill()
        run.close()
    return out


def crawl_scaleout(pg: PrivatePostgres, work: Path, scale: float, seed: int) -> dict[str, Any]:
    from faults.campaign import PrivateRedis

    redis = PrivateRedis()
    redis.start()
    try:
        one = crawl_trial(pg, redis, 1, work, scale, seed)
        two = crawl_trial(pg, redis, 2, work, scale, seed)
    finally:
        redis.close()
    same = {
        "same_pages": one.pop("_pages") == two.pop("_pages"),
        "same_sightings": one.pop("_sightings") == two.pop("_sightings"),
    }
    return {
        "scale": scale,
        "one": one,
        "two": two,
        **same,
        "crawl_ratio": round(one["crawl_seconds"] / two["crawl_seconds"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notices", type=int, default=400)
    parser.add_argument("--crawl-scale", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--only", choices=("crawl", "notify"), default=None)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="orbweaver-scaleout-"))
    pg = PrivatePostgres()
    pg.start()
    out: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "load_before": [round(x, 2) for x in load_before],
    }
    try:
        if args.only in (None, "notify"):
            one = trial(pg, args.notices, 1, work)
            two = trial(pg, args.notices, 2, work)
            out.update(
                notices=args.notices,
                one=one,
                two=two,
                notify_ratio=round(one["notify_seconds"] / two["notify_seconds"], 2),
                monitor_ratio=round(one["monitor_seconds"] / two["monitor_seconds"], 2),
            )
        if args.only in (None, "crawl"):
            out["crawl"] = crawl_scaleout(pg, work, args.crawl_scale, args.seed)
    finally:
        pg.close()
    out["load_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
