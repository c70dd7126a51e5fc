"""`orbweaver sim ...`: start the simulated internet, move its clock, export its ground truth."""

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


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root app."""
    app.add_typer(sim_app, name="sim")
