"""`orbweaver run [--roles crawl,notify,...] [--config FILE]` and `orbweaver role NAME`.

`run` is the deployment entry point: each role its own process (`orbweaver role NAME`), started,
restarted with backoff when it dies, stopped gracefully on SIGTERM or SIGINT, with an aggregate
`/livez`, `/readyz` and `/metrics` on the supervisor's port. `role` runs one role in the
foreground, for a process manager that supervises it itself (systemd, a container runtime).
The roles, their builders and their ports are `orbweaver.roles`'.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import typer


def _load(config: Path | None) -> Any:
    """Every settings class, from `config` (as ORBWEAVER_CONFIG, which the roles inherit)."""
    from orbweaver.config import CONFIG_ENV, ConfigError, get_settings
    from orbweaver.roles import ProductSettings

    if config is not None:
        os.environ[CONFIG_ENV] = str(config.resolve())
        get_settings.cache_clear()
    try:
        return ProductSettings.load()
    except (ConfigError, FileNotFoundError, ValueError) as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from exc


def run(
    roles: str = typer.Option(
        None,
        "--roles",
        help="Comma-separated roles to run: crawl, notify, monitor, review-sync, exchanges, serve "
        "(default: ORBWEAVER_ROLES, else all of them).",
    ),
    config: Path = typer.Option(None, "--config", help="TOML settings file (ORBWEAVER_CONFIG)."),
) -> None:
    """Run orbweaver as a service: every role its own supervised process.

    A role that dies is restarted with backoff (logged with its exit status; an ALERT when it
    keeps dying; the others go on). SIGTERM or SIGINT stops every role gracefully within
    ORBWEAVER_STOP_TIMEOUT_S, then kills what is left. Each role answers /livez, /readyz and
    /metrics on its own port; the supervisor's port has the aggregate view."""
    from orbweaver.ops import (
        Health,
        HealthServer,
        RoleProcess,
        Supervisor,
        SupervisorCollector,
        register_collector,
        supervisor_respond,
    )
    from orbweaver.roles import build_store, health_url, role_names
    from orbweaver.supervise import ensure_logging

    s = _load(config)
    try:
        names = role_names(roles.split(",") if roles else s.run.roles)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--roles") from exc
    ensure_logging()
    stop = threading.Event()
    _stop_on_signals(stop)
    if s.run.auto_migrate:  # once here, before the roles start side by side
        try:
            build_store(s, stop=stop, name="run").dispose()
        except Exception:
            if stop.is_set():
                return
            raise
    env = dict(os.environ)
    processes = [
        RoleProcess(
            name,
            [sys.executable, "-m", "orbweaver.cli", "role", name],
            env=env,
            ready_url=health_url(s, name),
        )
        for name in names
    ]
    supervisor = Supervisor(
        processes,
        backoff_s=s.run.restart_backoff_s,
        backoff_max_s=s.run.restart_backoff_max_s,
        stable_s=s.run.restart_stable_s,
        alert_after=s.run.restart_alert_after,
        stop_timeout_s=s.run.stop_timeout_s,
    )
    register_collector("supervisor", SupervisorCollector(supervisor))
    health = Health("supervisor", timeout_s=s.run.health_timeout_s)
    health.set_probes([])
    server = HealthServer(
        health,
        s.run.health_host,
        s.run.supervisor_health_port,
        responder=supervisor_respond(supervisor),
    ).start()
    try:
        supervisor.run(stop)
    finally:
        server.stop()


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def role(
    name: str = typer.Argument(help="crawl, notify, monitor, review-sync, exchanges or serve."),
    config: Path = typer.Option(None, "--config", help="TOML settings file (ORBWEAVER_CONFIG)."),
) -> None:
    """Run one role in the foreground, unsupervised (what `orbweaver run` starts per role).

    It answers /livez at once and /readyz once built (store reachable, schema current, index
    loaded); SIGTERM makes it finish or hand back its work and exit."""
    from orbweaver.roles import ROLES, run_role
    from orbweaver.supervise import ensure_logging

    if name not in ROLES:
        raise typer.BadParameter(f"unknown role {name!r}; roles: {', '.join(ROLES)}")
    settings = _load(config)
    ensure_logging()
    raise typer.Exit(run_role(name, settings))


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("role")(role)
