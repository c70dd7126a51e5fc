"""The report's Recommendation 2 on the calibrated world (issue 18): escalation upstream when a
provider does not act, against the report's own practice, same world and seeds.

    .venv/bin/python -m benchmarks.bench_calibration [--scenario scenarios/table-1.0.toml]
        [--scale 0.01] [--days 1095] [--seeds 1,2,3] [--effects 0.3] [--png docs/...png]

For each seed, one world is built and run twice with `orbweaver.sim.practice`: `arachnid` (a first
notice, then one every 24 h until gone: the practice the world is calibrated to) and `escalate`
(the same, plus one escalation to the site's registrar after 3 unanswered notices, as orbweaver's
default notice settings). Per provider it prints the table's p90, the world's p90 under each
practice (median over the seeds) and the change, as a Markdown table, and writes a plot. What an
escalation does is the world's assumption (`escalation_effect`, `escalation_delay_days`: 0.8 and 2
days by default, 0.9 for ColoCrossing), so `--effects` reruns the escalation with every provider's
effect set to each given value, to show how much of the answer is the assumption.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orbweaver.sim import practice
from orbweaver.sim import scenario as scenario_mod
from orbweaver.sim.scenario import SCENARIO_DIR

REPO = Path(__file__).resolve().parents[1]


def with_effect(sc: scenario_mod.Scenario, effect: float) -> scenario_mod.Scenario:
    """Every provider's escalation_effect set to `effect` (a sensitivity run)."""
    providers = tuple(
        dataclasses.replace(p, behaviour=dataclasses.replace(p.behaviour, escalation_effect=effect))
        for p in sc.providers
    )
    return dataclasses.replace(sc, providers=providers)


def p90s(result: dict[str, Any]) -> dict[str, float | None]:
    return {row["name"]: row["removal_p90_days"] for row in result["providers"]}


def median_over(values: list[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return statistics.median(got) if len(got) == len(values) and got else None


def run(args: argparse.Namespace) -> dict[str, Any]:
    sc = scenario_mod.load(args.scenario)
    seeds = [int(s) for s in args.seeds.split(",")]
    runs: dict[str, list[dict[str, Any]]] = {"arachnid": [], "escalate": []}
    for effect in args.effects:
        runs[f"escalate@{effect:g}"] = []
    started = time.monotonic()
    for seed in seeds:
        runs["arachnid"].append(practice.calibrate(sc, args.scale, args.days, seed))
        runs["escalate"].append(
            practice.calibrate(sc, args.scale, args.days, seed, practice.ESCALATE)
        )
        for effect in args.effects:
            runs[f"escalate@{effect:g}"].append(
                practice.calibrate(
                    with_effect(sc, effect), args.scale, args.days, seed, practice.ESCALATE
                )
            )
    elapsed = time.monotonic() - started
    names = [row["name"] for row in runs["arachnid"][0]["providers"]]
    table = {p.name: p.behaviour.removal_p90_days for p in sc.providers}
    rows = []
    for name in names:
        row: dict[str, Any] = {"name": name, "table": table[name]}
        for key, results in runs.items():
            row[key] = median_over([p90s(r)[name] for r in results])
        rows.append(row)
    return {
        "rows": rows,
        "keys": list(runs),
        "seeds": seeds,
        "elapsed_s": elapsed,
        "runs": len(seeds) * len(runs),
        "notices": {k: statistics.median(r["notices"] for r in v) for k, v in runs.items()},
    }


def fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def ratio(new: float | None, old: float | None) -> str:
    return "-" if new is None or not old else f"{new / old:.2f}×"


def markdown(result: dict[str, Any]) -> str:
    extra = [k for k in result["keys"] if k.startswith("escalate@")]
    head = (
        "| provider | table p90 | arachnid p90 | escalate p90 | change (days) "
        "| escalate / arachnid |"
    )
    rule = "|---|---|---|---|---|---|"
    for k in extra:
        effect = k.split("@")[1]
        head += f" effect {effect}: p90 (ratio) |"
        rule += "---|"
    lines = [head, rule]
    for row in result["rows"]:
        a, e = row["arachnid"], row["escalate"]
        change = "-" if a is None or e is None else f"{e - a:+.1f}"
        line = (
            f"| {row['name']} | {row['table']:g} | {fmt(a)} | {fmt(e)} | {change} | {ratio(e, a)} |"
        )
        for k in extra:
            line += f" {fmt(row[k])} ({ratio(row[k], a)}) |"
        lines.append(line)
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(result["rows"], key=lambda r: r["arachnid"] or 0)
    fig, ax = plt.subplots(figsize=(8.5, 6.2), dpi=110)
    y = list(range(len(rows)))
    for i, row in zip(y, rows, strict=True):
        a, e = row["arachnid"], row["escalate"]
        if a is not None and e is not None:
            ax.plot([e, a], [i, i], color="#b8c2d1", lw=2, zorder=1)
    ax.scatter([r["table"] for r in rows], y, marker="|", s=160, color="#444", label="Table 1.0")
    ax.scatter([r["arachnid"] for r in rows], y, color="#c0392b", label="arachnid (report's)")
    ax.scatter([r["escalate"] for r in rows], y, color="#2471a3", label="escalate after 3")
    for k in (k for k in result["keys"] if k.startswith("escalate@")):
        ax.scatter(
            [r[k] for r in rows], y, marker="x", color="#7fb3d5", label=f"escalate, effect {k[9:]}"
        )
    ax.set_yticks(y, [r["name"] for r in rows], fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("p90 removal time, days since first notice (log scale)")
    ax.set_title(
        "Recommendation 2 on the calibrated world: p90 per provider\n"
        f"(Table 1.0 scenario, scale {result['scale']:g}, {result['days']:g} days, "
        f"median over seeds {','.join(map(str, result['seeds']))})",
        fontsize=10,
    )
    ax.grid(alpha=0.3, axis="x")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", default=str(SCENARIO_DIR / "table-1.0.toml"))
    parser.add_argument("--scale", type=float, default=0.01)
    parser.add_argument("--days", type=float, default=1095.0)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--effects", type=float, nargs="*", default=[0.3])
    parser.add_argument("--png", type=Path, default=REPO / "docs" / "calibration-escalation.png")
    args = parser.parse_args()
    load_before = os.getloadavg()
    result = run(args)
    result.update(scale=args.scale, days=args.days)
    load_after = os.getloadavg()
    plot(result, args.png)
    print(markdown(result))
    print()
    print(
        f"{result['runs']} world runs in {result['elapsed_s']:.1f} s "
        f"({result['elapsed_s'] / result['runs']:.1f} s each); notices per run (median): "
        + ", ".join(f"{k} {v:,.0f}" for k, v in result["notices"].items())
    )
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; date {datetime.now(UTC):%Y-%m-%d}; load average "
        f"{load_before[0]:.1f} before, {load_after[0]:.1f} after"
    )
    print(f"plot: {args.png}")


if __name__ == "__main__":
    main()
