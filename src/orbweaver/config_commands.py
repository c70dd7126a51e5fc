"""`orbweaver config show [--json] [--config FILE]`: the settings a process would run with.

Every setting of every class, with where its value came from (default, the TOML file, the
environment) and secrets masked, so an operator can check a deployment before starting it: a
setting they meant to set that still says "default" is the mistake this is for.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer

config_app = typer.Typer(help="Settings: what is in effect and where it came from.")


def _report() -> dict[str, Any]:
    from orbweaver.config import config_path, effective_settings, unknown_env

    path = config_path()
    sections: dict[str, dict[str, Any]] = {}
    for e in effective_settings():
        sections.setdefault(e.section, {})[e.name] = {
            "value": e.value,
            "source": e.origin,
            "env": e.env,
        }
    return {
        "file": str(path) if path is not None else None,
        "settings": sections,
        "unknown_env": unknown_env(),
    }


def _cell(value: Any) -> str:
    if isinstance(value, str):
        return repr(value) if value == "" else value
    return json.dumps(value)


@config_app.command("show")
def show(
    as_json: bool = typer.Option(False, "--json", help="JSON instead of a table."),
    config: Path | None = typer.Option(
        None, "--config", help="Read this TOML file (as ORBWEAVER_CONFIG would)."
    ),
) -> None:
    """Every setting in effect, where it came from, secrets masked."""
    from orbweaver.config import CONFIG_ENV, ConfigError, get_settings

    if config is not None:
        os.environ[CONFIG_ENV] = str(config)
        get_settings.cache_clear()
    try:
        report = _report()
    except (ConfigError, FileNotFoundError, ValueError) as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        _print_table(report)
    for name in report["unknown_env"]:
        typer.echo(f"warning: {name} is set but no setting reads it", err=True)


def _print_table(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    file = report["file"]
    table = Table("section", "setting", "value", "source", title=f"TOML file: {file or 'none'}")
    for section, fields in report["settings"].items():
        for name, entry in fields.items():
            source = entry["source"]
            if source == "environment":
                source = entry["env"]
            elif source == "toml":
                source = f"toml ({file})"
            table.add_row(section, name, _cell(entry["value"]), source)
    Console(width=200).print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
