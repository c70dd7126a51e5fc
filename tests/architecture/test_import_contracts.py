"""The import-linter contracts in pyproject.toml (run by `make lint`) catch what they are for.

Each case copies the package beside the project's pyproject.toml, adds one import that the design
forbids, and runs `lint-imports` on the copy: it must fail and name that import, while the
unchanged copy passes (so the failure is the added import's, not the copy's).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_copy(
    tmp_path: Path, edit: tuple[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run lint-imports with the project's contracts on a copy of `src/orbweaver`, one module of
    which (`edit`: path inside the package, line to append) gets an extra import."""
    shutil.copytree(
        ROOT / "src" / "orbweaver",
        tmp_path / "orbweaver",
        ignore=shutil.ignore_patterns("__pycache__"),
        dirs_exist_ok=True,
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    if edit is not None:
        module, line = edit
        with (tmp_path / "orbweaver" / module).open("a") as f:
            f.write(f"\n{line}\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", "pyproject.toml", "--no-cache"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_tree_as_it_is_keeps_every_contract(tmp_path: Path) -> None:
    result = lint_copy(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "importer", "imported"),
    [
        # A backward import: the store (below every stage) reaching up into a stage.
        ("store/db.py", "import orbweaver.crawl", "orbweaver.store.db", "orbweaver.crawl"),
        # Two independent siblings: the monitor reaching into banks.
        (
            "monitor/service.py",
            "import orbweaver.banks",
            "orbweaver.monitor.service",
            "orbweaver.banks",
        ),
        # A stage reaching past another stage's public surface into its internals.
        (
            "reports/tables.py",
            "import orbweaver.banks.matcher",
            "orbweaver.reports.tables",
            "orbweaver.banks.matcher",
        ),
        # The product importing the simulated world.
        (
            "notices/compose.py",
            "import orbweaver.sim",
            "orbweaver.notices.compose",
            "orbweaver.sim",
        ),
        # The simulated world importing the product.
        ("sim/truth.py", "import orbweaver.store", "orbweaver.sim.truth", "orbweaver.store"),
    ],
)
def test_a_forbidden_import_fails_lint_imports(
    tmp_path: Path, module: str, line: str, importer: str, imported: str
) -> None:
    result = lint_copy(tmp_path, (module, line))
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout
    assert f"{importer} -> {imported}" in result.stdout.replace("\n", " ")
