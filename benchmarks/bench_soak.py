"""Soak (issue 13): every role of `orbweaver run` as its own process on a PostgreSQL and a Redis
of the benchmark's own, the Table 1.0 world driven for many simulated days (the campaign's
driver, tests/faults/campaign.py: settle at each instant, jump to the next due event). After
every step it samples each role's resident memory (VmRSS of the role process) and the age of
the oldest due item of every queue; at the end it prints the growth of each role's RSS after
warm-up (target < 10%) and the largest oldest-due age, and draws the RSS curves (PNG).

Usage: .venv/bin/python benchmarks/bench_soak.py [--days 365] [--scale 0.005] [--seed 1]
       [--plot docs/soak-rss.png] [--json OUT]
Everything is synthetic (the simulated world's generated pictures), on loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from faults.campaign import PrivateRedis, Run  # the harness lives with the tests
from orbweaver.sim.scenario import SCENARIO_DIR
from supervise.private_pg import PrivatePostgres

QUEUES = ("outbox", "rechecks", "followups", "suspects", "crawl_seeds")


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class Sampler:
    def __init__(self) -> None:
        self.days: list[float] = []
        self.rss: dict[str, list[float | None]] = {}
        self.oldest_due_h: dict[str, float] = dict.fromkeys(QUEUES, 0.0)
        self.start: Any = None

    def __call__(self, run: Run) -> None:
        from orbweaver.ops import QueueCollector

        now = run.now()
        self.start = self.start or now
        self.days.append((now - self.start).total_seconds() / 86400)
        assert run.svc is not None
        roles = run.svc.roles()
        for name, state in roles.items():
            pid = state.get("pid")
            self.rss.setdefault(name, []).append(rss_mib(int(pid)) if pid else None)
        for name, q in QueueCollector(run.store, run.world.clock, QUEUES).read().items():
            if q.oldest_due is not None:
                age = (now - q.oldest_due).total_seconds() / 3600
                self.oldest_due_h[name] = max(self.oldest_due_h[name], age)
        if len(self.days) % 20 == 0:
            print(f"  day {self.days[-1]:.1f}: {self.latest()}", flush=True)

    def latest(self) -> dict[str, float | None]:
        return {name: (v[-1] and round(v[-1], 1)) for name, v in self.rss.items()}

    def growth(self, warmup: float) -> dict[str, float | None]:
        """Per role: median RSS of the last fifth against the median of the fifth after
        warm-up, in percent."""
        out: dict[str, float | None] = {}
        for name, values in self.rss.items():
            pts = [(d, v) for d, v in zip(self.days, values, strict=False) if v is not None]
            after = [v for d, v in pts if d >= warmup]
            if len(after) < 10:
                out[name] = None
                continue
            fifth = max(2, len(after) // 5)
            early, late = statistics.median(after[:fifth]), statistics.median(after[-fifth:])
            out[name] = round(100 * (late - early) / early, 1)
        return out

    def plot(self, path: Path, title: str) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(8, 4.5))
        for name, values in sorted(self.rss.items()):
            pts = [(d, v) for d, v in zip(self.days, values, strict=False) if v is not None]
            ax.plot([d for d, _ in pts], [v for _, v in pts], label=name)
        ax.set_xlabel("simulated days")
        ax.set_ylabel("resident memory (MiB)")
        ax.set_title(title, fontsize=9)
        ax.legend()
        ax.grid(alpha=0.3)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=float, default=365.0)
    parser.add_argument("--scale", type=float, default=0.005)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--crawl-every-days", type=float, default=5.0)
    parser.add_argument("--max-step-h", type=float, default=24.0)
    parser.add_argument("--warmup-days", type=float, default=None)
    parser.add_argument("--max-minutes", type=float, default=None, help="stop the drive then")
    parser.add_argument("--plot", type=Path, default=Path("docs/soak-rss.png"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    load_before = os.getloadavg()
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="orbweaver-soak-"))
    pg, redis = PrivatePostgres(), PrivateRedis()
    pg.start()
    redis.start()
    sampler = Sampler()
    try:
        run = Run(
            work / "soak",
            pg,
            redis,
            name="soak",
            seed=args.seed,
            scale=args.scale,
            days=args.days,
            crawl_every_days=args.crawl_every_days,
            max_step_h=args.max_step_h,
            scenario=SCENARIO_DIR / "table-1.0.toml",
            settle_timeout_s=3600,
        )
        try:
            limit = args.max_minutes * 60 if args.max_minutes else None
            run.drive([], on_step=sampler, wall_limit_s=limit)
            result = run.result([])
        finally:
            run.close()
    finally:
        redis.close()
        pg.close()
    reached = sampler.days[-1] if sampler.days else 0.0
    warmup = args.warmup_days if args.warmup_days is not None else reached * 0.25
    growth = sampler.growth(warmup)
    out = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "args": {k: str(v) for k, v in vars(args).items()},
        "days_reached": round(sampler.days[-1], 1) if sampler.days else 0,
        "steps": result.steps,
        "samples": len(sampler.days),
        "rss_mib_last": sampler.latest(),
        "warmup_days": round(warmup, 1),
        "rss_growth_after_warmup_pct": growth,
        "oldest_due_hours_max": {k: round(v, 1) for k, v in sampler.oldest_due_h.items()},
        "sightings": len(result.sightings),
        "notices": len(result.noticed),
        "reports_received": sum(result.received.values()),
        "recrawls_overdue_at_end": result.recrawls_overdue,
        "seconds": round(time.monotonic() - started, 1),
    }
    title = (
        f"RSS per role, Table 1.0 world at scale {args.scale}, {out['days_reached']:g} "
        "simulated days "
        f"({out['date']}, load {load_before[0]:.1f})"
    )
    sampler.plot(args.plot, title)
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
