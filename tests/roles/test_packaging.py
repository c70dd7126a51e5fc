"""The deployment files against the code they deploy (no container runtime here, so the test
reads them): the compose file runs exactly `orbweaver run`'s roles, sets only real settings,
checks health where the roles answer it; the Dockerfile installs what pyproject.toml needs."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from orbweaver.config import ENV_PREFIX, RunSettings, field_sections
from orbweaver.roles import ROLES, ProductSettings, health_url

ROOT = Path(__file__).resolve().parents[2]
INFRA = {"postgres", "redis", "migrate"}


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "compose.yaml").read_text()))


def services() -> dict[str, Any]:
    return dict(compose()["services"])


def role_services() -> dict[str, Any]:
    return {name: spec for name, spec in services().items() if name not in INFRA}


def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def stages(text: str) -> list[str]:
    """The Dockerfile's stages, each from its FROM to the next."""
    parts = re.split(r"(?m)^FROM ", text)
    return [f"FROM {part}" for part in parts[1:]]


def interpolated(value: str) -> str:
    """A compose value with its `${VAR...}` references replaced as compose would (by x)."""
    return re.sub(r"\$\{[^}]*\}", "x", value)


def real_settings() -> set[str]:
    return {f"{ENV_PREFIX}{name.upper()}" for name in field_sections()}


def test_one_service_per_role_of_the_role_table() -> None:
    found = role_services()
    assert set(found) == set(ROLES)
    for name, spec in found.items():
        assert spec["command"] == ["run", "--roles", name], name


def test_infrastructure_and_the_migration_job_come_first() -> None:
    every = services()
    assert set(every) >= INFRA
    migrate = every["migrate"]
    assert migrate["command"] == ["db", "upgrade"] and migrate["restart"] == "no"
    for name, spec in role_services().items():
        assert spec["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert spec["depends_on"]["redis"] == {"condition": "service_healthy"}, name
        assert spec["restart"] == "unless-stopped"


def _environments() -> list[tuple[str, dict[str, Any]]]:
    return [(name, dict(spec.get("environment") or {})) for name, spec in services().items()]


def test_every_orbweaver_variable_the_compose_file_sets_is_a_setting() -> None:
    known = real_settings()
    used = {key for _, env in _environments() for key in env if key.startswith(ENV_PREFIX)}
    assert used, "the compose file sets no ORBWEAVER_* variable"
    assert used - known == set()
    # and each value is one its setting accepts (a typo in a boolean stops the roles)
    for _, env in _environments():
        values = {k.removeprefix(ENV_PREFIX).lower(): v for k, v in env.items()}
        RunSettings(**{k: v for k, v in values.items() if k in RunSettings.model_fields})


def test_the_roles_run_as_the_runtime_user_and_migrate_as_the_owner() -> None:
    every = services()
    owner = interpolated(every["migrate"]["environment"]["ORBWEAVER_DATABASE_URL"])
    assert urlsplit(owner).username == "orbweaver_owner"
    for name, spec in role_services().items():
        env = spec["environment"]
        url = interpolated(env["ORBWEAVER_DATABASE_URL"])
        assert urlsplit(url).username == "orbweaver_app", name
        assert env["ORBWEAVER_AUTO_MIGRATE"] == "false", name
        assert env["ORBWEAVER_REDIS_URL"].startswith("redis://redis:"), name
    mounts = every["postgres"]["volumes"]
    for local in ("deploy/postgres-init.sh", "deploy/postgres-roles.sql"):
        assert any(m.startswith(f"./{local}:") for m in mounts)
        assert (ROOT / local).is_file()
    script = (ROOT / "deploy/postgres-init.sh").read_text()
    target = next(m for m in mounts if m.startswith("./deploy/postgres-roles.sql:"))
    assert target.split(":")[1] in script


def _settings_of(spec: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> ProductSettings:
    """The settings a role's container runs with (its environment over the defaults)."""
    for key in list(os.environ):
        if key.startswith(ENV_PREFIX):
            monkeypatch.delenv(key)
    for key, value in (spec.get("environment") or {}).items():
        monkeypatch.setenv(key, str(value))
    return ProductSettings.load()


def test_health_checks_ask_each_role_s_readyz_on_its_configured_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, spec in role_services().items():
        test = spec["healthcheck"]["test"]
        urls = [u for part in test for u in re.findall(r"https?://[^'\" ]+", part)]
        assert len(urls) == 1, (name, test)
        with monkeypatch.context() as m:
            expected = health_url(_settings_of(spec, m), name)
        got = urlsplit(urls[0])
        assert got.path == "/readyz", name
        assert (got.hostname, got.port) == (urlsplit(expected).hostname, urlsplit(expected).port)
        assert got.geturl() == expected, name


def test_serve_publishes_its_port_and_listens_beyond_loopback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = services()["serve"]
    s = _settings_of(spec, monkeypatch)
    assert s.run.serve_host == "0.0.0.0"
    assert f"{s.run.serve_port}:{s.run.serve_port}" in spec["ports"]


def test_the_dockerfile_is_multi_stage_and_runs_as_a_user() -> None:
    build, runtime = stages(dockerfile())
    assert " AS build" in build.splitlines()[0] and " AS runtime" in runtime.splitlines()[0]
    assert re.search(r"(?m)^USER (?!root)\w+", runtime)
    assert "COPY --from=build /opt/orbweaver /opt/orbweaver" in runtime
    # no compiler or dev tools in the image that runs
    for tool in ("build-essential", "gcc", "g++", "git", "[dev]", "pytest"):
        assert tool not in runtime, tool


def test_the_dockerfile_installs_the_project_at_its_pinned_versions() -> None:
    build, _ = stages(dockerfile())
    assert re.search(r"(?m)^RUN pip install -c constraints\.txt \.$", build)
    for copied in ("pyproject.toml", "constraints.txt", "README.md", "src"):
        assert re.search(rf"(?m)^COPY .*\b{re.escape(copied)}\b", build), copied
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = {
        line.split("==")[0].strip().lower().replace("_", "-")
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line
    }
    for requirement in project["dependencies"]:
        name = re.split(r"[<>=\[ ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        assert name in pinned, f"{name} is not pinned in constraints.txt"
    version = re.search(r"ARG PYTHON_VERSION=(\d+)\.(\d+)", dockerfile())
    assert version is not None
    minimum = re.search(r">=(\d+)\.(\d+)", project["requires-python"])
    assert minimum is not None
    assert tuple(map(int, version.groups())) >= tuple(map(int, minimum.groups()))
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for needed in ("!pyproject.toml", "!constraints.txt", "!README.md", "!src/"):
        assert needed in ignored


def test_the_image_has_the_system_packages_the_code_calls() -> None:
    _, runtime = stages(dockerfile())
    installs = " ".join(re.findall(r"apt-get install[^&]*", runtime))
    # libarchive-c loads libarchive; signals.archives runs unar and lsar (package unar)
    for package in ("libarchive13", "unar", "ca-certificates"):
        assert re.search(rf"\b{package}\b", installs), package
    source = (ROOT / "src/orbweaver/signals/archives.py").read_text()
    assert 'shutil.which("unar")' in source and 'shutil.which("lsar")' in source


def test_the_dockerfile_sets_only_real_settings_and_exposes_the_role_ports() -> None:
    text = dockerfile()
    env = set(re.findall(r"\b(ORBWEAVER_[A-Z0-9_]+)=", text))
    assert env and env <= real_settings()
    exposed = {int(p) for line in re.findall(r"(?m)^EXPOSE (.+)$", text) for p in line.split()}
    run = RunSettings.model_construct()
    wanted = {ROLES[name].port(run) for name in ROLES} | {run.supervisor_health_port}
    assert exposed == wanted
