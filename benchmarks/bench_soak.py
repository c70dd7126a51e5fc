"""Soak (issue 13): every role of `orbweaver run` as its own process on a PostgreSQL and a Redis
of the benchmark's own, the Table 1.0 world driven for many simulated days (the campaign's
driver, tests/faults/campaign.py: settle at each instant, jump to the next due event). After
every step it samples each role's resident memory (VmRSS of the role process); meanwhile a
thread polls every role's `/metrics` every second, *during* the steps (at a settled instant the
queues are empty by construction), and keeps the largest `orbweaver_queue_oldest_due_age_seconds`
and `orbweaver_queue_due_items` per queue per simulated day. At the end it prints the growth of
each role's RSS after warm-up (target < 10%), the oldest-due ages and whether they stay bounded
(the last third of the days no worse than the first third plus a day), where the driver's wall
clock went, and draws the RSS curves and the ages (PNGs).

Usage: .venv/bin/python benchmarks/bench_soak.py [--days 365] [--scale 0.005] [--seed 1]
       [--max-minutes M] [--min-step-m M] [--quiet-s S] [--recrawl-quiet-s S] [--stall-s S]
       [--plot docs/soak-rss.png] [--plot-ages docs/soak-oldest-due.png] [--json OUT]
(`--json OUT` also keeps the RSS curve so far in OUT's `.partial.json` every 20 instants.)
`--max-minutes` holds inside a settle wait too; SIGINT or SIGTERM stops the drive within a
poll, then the roles and the private servers, and the results so far are written (the JSON's
`stopped` says why); a second signal interrupts at once.
Everything is synthetic (the simulated world's generated pictures), on loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from faults.campaign import PrivateRedis, Run, RunResult  # the harness lives with the tests
from orbweaver.sim.scenario import SCENARIO_DIR
from supervise.private_pg import PrivatePostgres

QUEUES = ("outbox", "rechecks", "followups", "suspects", "crawl_seeds")
# the roles that expose queue gauges on their own /metrics, by the setting of their port
METRIC_PORTS = {
    "crawl": "crawl_health_port",
    "notify": "notify_health_port",
    "monitor": "monitor_health_port",
    "review-sync": "review_sync_health_port",
}
# queues no role drains in the soak: their age grows by design
UNDRAINED = {"review": "analysts' queue: no analyst reviews in the soak"}
AGE_METRIC = "orbweaver_queue_oldest_due_age_seconds"
DUE_METRIC = "orbweaver_queue_due_items"


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def parse_queue_gauges(text: str) -> dict[str, tuple[float, float]]:
    """`{queue: (due items, oldest-due age in seconds)}` from a Prometheus text exposition."""
    due: dict[str, float] = {}
    age: dict[str, float] = {}
    for line in text.splitlines():
        for name, into in ((DUE_METRIC, due), (AGE_METRIC, age)):
            if line.startswith(name + "{"):
                labels, value = line[len(name) + 1 :].rsplit("} ", 1)
                for label in labels.split(","):
                    key, _, quoted = label.partition("=")
                    if key == "queue":
                        into[quoted.strip('"')] = float(value)
    return {q: (due.get(q, 0.0), age[q]) for q in age}


class MetricsSampler:
    """Polls every role's `/metrics` every `every_s` real seconds in a thread, *during* steps
    (while the roles work), not only at settled instants where the queues are empty by
    construction: the largest oldest-due age and due count seen per queue per simulated day."""

    def __init__(self, run: Run, every_s: float = 1.0) -> None:
        import threading

        self.run, self.every_s = run, every_s
        self.start = run.now()
        self.max_age_s: dict[int, dict[str, float]] = {}
        self.max_due: dict[int, dict[str, float]] = {}
        self.polls = 0
        self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="metrics-sampler", daemon=True)

    def begin(self) -> None:
        self._thread.start()

    def end(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _urls(self) -> list[str]:
        svc = self.run.svc
        if svc is None:
            return []
        return [svc.url(port, "/metrics") for port in METRIC_PORTS.values()]

    def _loop(self) -> None:
        from roles.world import get

        while not self._stop.wait(self.every_s):
            day = int((self.run.now() - self.start).total_seconds() // 86400)
            for url in self._urls():
                try:
                    code, body = get(url, timeout=2.0)
                except Exception:
                    code, body = 0, ""
                if code != 200:
                    self.failed += 1  # a role restarting, or busy past the timeout
                    continue
                self.polls += 1
                ages = self.max_age_s.setdefault(day, {})
                dues = self.max_due.setdefault(day, {})
                for queue, (due, age) in parse_queue_gauges(body).items():
                    ages[queue] = max(ages.get(queue, 0.0), age)
                    dues[queue] = max(dues.get(queue, 0.0), due)

    def queues(self) -> list[str]:
        return sorted({q for day in self.max_age_s.values() for q in day})

    def max_hours(self) -> dict[str, float]:
        return {
            q: round(max(d.get(q, 0.0) for d in self.max_age_s.values()) / 3600, 2)
            for q in self.queues()
        }

    def bounded(self) -> dict[str, dict[str, float | bool]]:
        """Per queue: the largest oldest-due age (hours) in the first and the last third of the
        days sampled; bounded when the last third's is no more than the first's plus a day (a
        queue that is not drained shows an age that grows with the days)."""
        days = sorted(self.max_age_s)
        out: dict[str, dict[str, float | bool]] = {}
        if len(days) < 3:
            return out
        third = max(1, len(days) // 3)
        for q in self.queues():
            first = max(self.max_age_s[d].get(q, 0.0) for d in days[:third]) / 3600
            last = max(self.max_age_s[d].get(q, 0.0) for d in days[-third:]) / 3600
            out[q] = {
                "first_third_h": round(first, 2),
                "last_third_h": round(last, 2),
                "bounded": last <= first + 24,
            }
            if q in UNDRAINED:
                out[q]["note"] = UNDRAINED[q]
        return out

    def plot(self, path: Path, title: str) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        days = sorted(self.max_age_s)
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for q in self.queues():
            ax.plot(days, [self.max_age_s[d].get(q, 0.0) / 3600 for d in days], label=q)
        ax.set_xlabel("simulated day")
        ax.set_ylabel("largest oldest-due age in the day (hours)")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=90)


class Sampler:
    def __init__(self) -> None:
        self.days: list[float] = []
        self.rss: dict[str, list[float | None]] = {}
        self.oldest_due_h: dict[str, float] = dict.fromkeys(QUEUES, 0.0)
        self.start: Any = None
        self.partial: Path | None = None

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
            if self.partial is not None:  # the curve so far, should the run be cut short
                self.partial.write_text(json.dumps({"days": self.days, "rss_mib": self.rss}))

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


def stop_on_signals(run: Run) -> Callable[[], None]:
    """SIGINT and SIGTERM end the run cleanly: the first asks the drive to stop (within a
    poll, even in the middle of a settle wait), and the bench then stops the roles and the
    private servers and writes what it has; a second one interrupts at once. Returns a
    function that puts the previous handlers back."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum: int, frame: Any) -> None:
        if run.stop_requested.is_set():
            raise KeyboardInterrupt  # asked twice: do not wait for the clean stop
        name = signal.Signals(signum).name
        print(f"{name}: stopping the drive; results so far follow", file=sys.stderr, flush=True)
        run.stop_requested.set()

    for sig in previous:
        signal.signal(sig, handler)

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=float, default=365.0)
    parser.add_argument("--scale", type=float, default=0.005)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--crawl-every-days", type=float, default=5.0)
    parser.add_argument("--max-step-h", type=float, default=24.0)
    parser.add_argument(
        "--min-step-m",
        type=float,
        default=0.0,
        help="settle events due within this many simulated minutes together (0: each alone)",
    )

    parser.add_argument(
        "--quiet-s",
        type=float,
        default=2.0,
        help="real seconds the store's counts must stay unchanged to call an instant settled",
    )
    parser.add_argument(
        "--recrawl-quiet-s",
        type=float,
        default=8.0,
        help="the same where re-crawls fell due and are not all done (Scrapy idles every 5 s)",
    )
    parser.add_argument(
        "--stall-s",
        type=float,
        default=300.0,
        help="real seconds due work may sit untouched (no count changes) before the instant "
        "is counted settled anyway and the stall recorded",
    )
    parser.add_argument("--warmup-days", type=float, default=None)
    parser.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        help="stop the drive then, also in the middle of a settle wait",
    )
    parser.add_argument("--plot", type=Path, default=Path("docs/soak-rss.png"))
    parser.add_argument("--plot-ages", type=Path, default=Path("docs/soak-oldest-due.png"))
    parser.add_argument("--metrics-every-s", type=float, default=1.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    load_before = os.getloadavg()
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="orbweaver-soak-"))
    pg, redis = PrivatePostgres(), PrivateRedis()
    pg.start()
    redis.start()
    sampler = Sampler()
    if args.json:
        sampler.partial = args.json.with_suffix(".partial.json")
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
            min_step_m=args.min_step_m,
            scenario=SCENARIO_DIR / "table-1.0.toml",
            settle_timeout_s=3600,
            quiet_s=args.quiet_s,
            recrawl_quiet_s=args.recrawl_quiet_s,
            stall_s=args.stall_s,
        )
        restore = stop_on_signals(run)
        metrics = MetricsSampler(run, args.metrics_every_s)
        metrics.begin()
        try:
            limit = args.max_minutes * 60 if args.max_minutes else None
            run.drive([], on_step=sampler, wall_limit_s=limit)
            if run.stopped:
                print(f"drive ended early: {run.stopped}", flush=True)
            try:
                result: RunResult | None = run.result([])
            except Exception as exc:  # e.g. a Ctrl-C that reached the private PostgreSQL too
                print(f"the run's outcome could not be read: {exc!r}", file=sys.stderr)
                result = None
        finally:
            metrics.end()
            run.close()  # the roles
            restore()
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
        "steps": result.steps if result else run.steps,
        "samples": len(sampler.days),
        "rss_mib_last": sampler.latest(),
        "warmup_days": round(warmup, 1),
        "rss_growth_after_warmup_pct": growth,
        "oldest_due_hours_max_settled": {k: round(v, 1) for k, v in sampler.oldest_due_h.items()},
        "oldest_due_hours_max_during_steps": metrics.max_hours(),
        "oldest_due_bounded": metrics.bounded(),
        "oldest_due_hours_by_day": {
            str(d): {q: round(a / 3600, 2) for q, a in ages.items()}
            for d, ages in sorted(metrics.max_age_s.items())
        },
        "metrics_polls": metrics.polls,
        "metrics_polls_failed": metrics.failed,
        "driver_seconds": {k: round(v, 1) for k, v in run.timing.items()},
        "sightings": len(result.sightings) if result else None,
        "notices": len(result.noticed) if result else None,
        "reports_received": sum(result.received.values()) if result else None,
        "recrawls_overdue_at_end": result.recrawls_overdue if result else None,
        "seconds": round(time.monotonic() - started, 1),
        "stopped": run.stopped,
        "stalls": [{"at": str(at), "busy": busy} for at, busy in run.stalls],
    }
    if args.json:  # before the plots, which are the likeliest to fail
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    title = (
        f"RSS per role, Table 1.0 world at scale {args.scale}, {out['days_reached']:g} "
        "simulated days "
        f"({out['date']}, load {load_before[0]:.1f})"
    )
    sampler.plot(args.plot, title)
    metrics.plot(
        args.plot_ages,
        f"Largest oldest-due age per queue per simulated day, /metrics polled every "
        f"{args.metrics_every_s:g} s (scale {args.scale}, {out['date']})",
    )
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
