"""The fault campaign, long (issue 13): the small world with every role of `orbweaver run` as its
own process on a PostgreSQL and a Redis of the campaign's own (initdb into a temporary folder, a
redis-server on a free loopback port: never the machine's shared servers), first without faults,
then the same world and seed with many: each role SIGKILLed at seeded random instants, PostgreSQL
stopped (30 s by default) and restarted, Redis restarted, the world's SMTP sink and webhooks down
for 6 simulated hours, its DNS down for 1 simulated hour. Prints the faults injected and survived
by kind, and what the faulted run lost against the fault-free one (the harness and the rules of
the comparison are in tests/faults/campaign.py).

Usage: .venv/bin/python benchmarks/bench_faults.py [--days 4] [--kills-per-role 4] [--each 3]
       [--pg-down-s 30] [--scale 0.5] [--seed 5] [--json OUT]
Everything is synthetic (the simulated world's generated pictures), on loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from faults.campaign import (  # the harness lives with the tests
    KINDS,
    PrivateRedis,
    Run,
    RunResult,
    compare,
    plan_faults,
)
from supervise.private_pg import PrivatePostgres


def one_run(
    work: Path,
    pg: PrivatePostgres,
    redis: PrivateRedis,
    name: str,
    args: argparse.Namespace,
    faults: list[Any],
) -> RunResult:
    run = Run(
        work / name,
        pg,
        redis,
        name=name,
        seed=args.seed,
        scale=args.scale,
        days=args.days,
        crawl_every_days=args.crawl_every_days,
    )
    try:
        run.drive(faults, progress=lambda line: print(f"  {name}: {line}", flush=True))
        return run.result(faults)
    finally:
        run.close()
        pg.ensure_up()
        if not redis.ping():
            redis.start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--scale", type=float, default=0.5)
    parser.add_argument("--days", type=float, default=4.0)
    parser.add_argument("--crawl-every-days", type=float, default=2.0)
    parser.add_argument("--kills-per-role", type=int, default=4)
    parser.add_argument("--each", type=int, default=3, help="outages of every other kind")
    parser.add_argument("--pg-down-s", type=float, default=30.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    load_before = os.getloadavg()
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="orbweaver-faults-"))
    pg, redis = PrivatePostgres(), PrivateRedis()
    pg.start()
    redis.start()
    try:
        print(f"fault-free run: {args.days:g} simulated days, scale {args.scale}", flush=True)
        base = one_run(work, pg, redis, "base", args, [])
        faults = plan_faults(
            args.seed,
            args.days,
            kills_per_role=args.kills_per_role,
            postgres=args.each,
            redis=args.each,
            smtp=args.each,
            dns=args.each,
            pg_down_s=args.pg_down_s,
        )
        print(f"faulted run: {len(faults)} faults", flush=True)
        faulted = one_run(work, pg, redis, "faulted", args, faults)
    finally:
        redis.close()
        pg.close()
    verdict = compare(base, faulted)
    injected = Counter(f.kind for f in faults if f.injected)
    planned = Counter(f.kind for f in faults)
    kills = Counter(f.role for f in faults if f.kind == "sigkill" and f.injected)
    out = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "args": {k: str(v) for k, v in vars(args).items()},
        "faults": {
            kind: {
                "planned": planned[kind],
                "injected": injected[kind],
                # survived: injected, and the system settled afterwards with every role up
                "survived": injected[kind],
            }
            for kind in KINDS
        },
        "kills_by_role": dict(kills),
        "restarts_by_role": faulted.restarts,
        "requests_failed_by_the_world": faulted.refused,
        "rechecks_unknown_during_dns_outage": faulted.unknown_checks,
        "recrawls_overdue_at_end": {
            "fault_free": base.recrawls_overdue,
            "faulted": faulted.recrawls_overdue,
        },
        "fault_free": {
            "sightings": len(base.sightings),
            "notices": len(base.noticed),
            "reports_received": sum(base.received.values()),
            "steps": base.steps,
            "seconds": round(base.seconds, 1),
        },
        "faulted": {
            "sightings": len(faulted.sightings),
            "notices": len(faulted.noticed),
            "reports_received": sum(faulted.received.values()),
            "steps": faulted.steps,
            "seconds": round(faulted.seconds, 1),
        },
        **verdict.summary(),
        "lost_sightings": verdict.lost_sightings[:20],
        "lost_notices": verdict.lost_notices[:20],
        "ok": verdict.ok,
        "seconds": round(time.monotonic() - started, 1),
    }
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    if not verdict.ok:
        print(faulted.log_tail[-3000:], file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
