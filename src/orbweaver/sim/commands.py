"""`orbweaver sim ...`: start the simulated internet, move its clock, export its ground truth,
and calibrate it (the world alone under a notice practice)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

sim_app = typer.Typer(
    help="The simulated internet on loopback (demo, tests, benchmarks).", no_args_is_help=True
)


@sim_app.command("start")
def start(
    scenario: Path = typer.Option(
        Path("scenarios/table-1.0.toml"), help="CSV table, TOML or YAML."
    ),
    scale: float = typer.Option(
        0.01, help="Volume factor: images per provider = targeted x scale."
    ),
    seed: int = typer.Option(1, help="Same seed, same world."),
    out: Path = typer.Option(Path("world.json"), help="Where to write the world's addresses."),
    port: int = typer.Option(0, help="Port shared by every service (0: pick a free one)."),
    speed: float = typer.Option(
        0.0, help="World seconds per real second (0: moves only when told)."
    ),
    workdir: Path = typer.Option(
        None, help="Where the known-hash CSV goes (default: beside --out)."
    ),
) -> None:
    """Run the world in the foreground until interrupted; print and write every address."""
    import signal
    import threading

    from orbweaver.sim.world import World

    world = World(
        scenario,
        scale=scale,
        seed=seed,
        port=port or None,
        speed=speed,
        workdir=workdir or out.resolve().parent,
    )
    world.run_in_background()
    world.write_info(out)
    typer.echo(json.dumps({k: v for k, v in world.info.items() if k != "providers"}, indent=2))
    typer.echo(f"world.json written to {out}; Ctrl-C to stop", err=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        world.stop()


def _control(world_file: Path) -> str:
    return str(json.loads(world_file.read_text())["control"])


@sim_app.command("truth")
def truth(
    world: Path = typer.Option(Path("world.json"), help="The world.json of a running world."),
    out: Path = typer.Option(None, help="Write here instead of stdout."),
    images: bool = typer.Option(True, help="Include every image and notice."),
) -> None:
    """Export the running world's ground truth (per-provider removal times, recidivism, images)."""
    import httpx

    resp = httpx.get(f"{_control(world)}/truth", params={"images": int(images)}, timeout=120)
    resp.raise_for_status()
    text = json.dumps(resp.json(), indent=1)
    if out:
        out.write_text(text + "\n")
    else:
        typer.echo(text)


@sim_app.command("advance")
def advance(
    world: Path = typer.Option(Path("world.json"), help="The world.json of a running world."),
    days: float = typer.Option(1.0, help="World days to move forward."),
) -> None:
    """Move the running world's clock forward."""
    import httpx

    resp = httpx.post(f"{_control(world)}/clock/advance", json={"days": days}, timeout=30)
    resp.raise_for_status()
    typer.echo(resp.json()["now"])


@sim_app.command("calibrate")
def calibrate(
    scenario: Path = typer.Option(
        None, help="CSV table, TOML or YAML (default: the Table 1.0 scenario)."
    ),
    scale: float = typer.Option(0.01, help="Volume factor, as for `sim start`."),
    days: float = typer.Option(1095.0, help="World days to run (the report covers 1095)."),
    seed: int = typer.Option(1, help="Same seed, same world."),
    policy: str = typer.Option(
        "arachnid",
        help="Notice practice: arachnid (first notice, then every 24 h until gone: the practice "
        "behind Table 1.0) or escalate (the same, and escalation upstream after N notices).",
    ),
    escalate_after: int = typer.Option(
        None, help="Unanswered notices before the escalation (escalate: 3; 0: none)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the JSON result."),
) -> None:
    """Run the world alone (no servers, no crawl) with notices sent by a practice, and print each
    provider's removal median, p90 and recidivism from its ground truth beside the scenario's."""
    from orbweaver.sim import practice
    from orbweaver.sim import scenario as scenario_mod

    try:
        how = practice.practice(policy, escalate_after)
        result = practice.calibrate(
            scenario or scenario_mod.default_scenario(), scale, days, seed, how
        )
    except (ValueError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(result, indent=1))
        return
    typer.echo(
        f"{result['scenario']} at scale {scale:g}, seed {seed}, {days:g} days, practice "
        f"{how.name}: {how.description}"
    )
    typer.echo(f"{'provider':28} {'targeted':>8}  {'median d':>15}  {'p90 d':>15}  {'recid.':>13}")
    typer.echo(
        f"{'':28} {'':>8}  {'world / table':>15}  {'world / table':>15}  {'world / table':>13}"
    )
    for row in result["providers"]:
        want = row["scenario"]
        typer.echo(
            f"{row['name'][:28]:28} {row['targeted']:>8}  "
            f"{_days(row['removal_median_days'])} / {want['removal_median_days']:<5g}  "
            f"{_days(row['removal_p90_days'])} / {want['removal_p90_days']:<5g}  "
            f"{_rate(row['recidivism_rate'])} / {_rate(want['recidivism_rate'])}"
        )


def _days(value: float | None) -> str:
    return f"{value:7.2f}" if value is not None else "      -"


def _rate(value: float | None) -> str:
    return f"{100 * value:5.1f}%" if value is not None else "     -"


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root app."""
    app.add_typer(sim_app, name="sim")
