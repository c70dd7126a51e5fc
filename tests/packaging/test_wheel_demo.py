"""An installed wheel works on its own: `orbweaver demo` from an empty folder, no checkout in sight.

The wheel is built from a copy of the sources (so the checkout gets no build/ or egg-info), then
installed with `--no-deps` into a fresh virtualenv outside the checkout. That virtualenv takes its
dependencies from the dev virtualenv through a `.pth` file naming the dev site-packages: a folder
named in a `.pth` is put on sys.path without reading the `.pth` files inside it, so the dev
virtualenv's editable install (which points at `src/`) stays out, and nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def build_wheel(tmp: Path) -> Path:
    source = tmp / "source"
    shutil.copytree(
        ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    dist = tmp / "dist"
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-index"),
            *("--no-build-isolation", "--wheel-dir", str(dist), str(source)),
        ],
        check=True,
        timeout=300,
    )
    (wheel,) = dist.glob("orbweaver-*.whl")
    return wheel


def fresh_venv(tmp: Path, wheel: Path) -> Path:
    """A virtualenv holding only the wheel, its dependencies borrowed from the dev virtualenv."""
    env_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(purelib, "dev_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"),
            *("--no-deps", "--no-index", str(wheel)),
        ],
        check=True,
        timeout=300,
    )
    return env_dir


def clean_env(env_dir: Path) -> dict[str, str]:
    """The environment of a user who has only the installed package: no ORBWEAVER_* settings,
    no PYTHONPATH, the fresh virtualenv first on PATH."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ORBWEAVER_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_wheel_installed_elsewhere_runs_the_demo_from_an_empty_folder(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    assert "orbweaver/sim/scenarios/table-1.0.toml" in names
    assert "orbweaver/sim/scenarios/table-1.0.csv" in names

    env_dir = fresh_venv(tmp_path, wheel)
    empty = tmp_path / "empty"
    empty.mkdir()
    env = clean_env(env_dir)

    where = subprocess.run(
        [str(env_dir / "bin" / "python"), "-c", "import orbweaver; print(orbweaver.__file__)"],
        cwd=empty,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(env_dir), where
    assert not Path(where).is_relative_to(ROOT), where

    run = subprocess.run(
        [str(env_dir / "bin" / "orbweaver"), "demo", "--days", "2"],
        cwd=empty,
        env=env,
        capture_output=True,
        text=True,
        timeout=840,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    report = json.loads((empty / "demo-out" / "report.json").read_text())
    assert report["summary"]["targeted"] > 0  # the shipped Table 1.0 world was crawled and noticed
    assert report["providers"]
    assert (empty / "demo-out" / "truth.json").stat().st_size > 0
    assert (empty / "demo-out" / "report.html").stat().st_size > 0
