"""The package finds its own files inside itself, never through the checkout around it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import orbweaver
from orbweaver.sim import scenario

PACKAGE = Path(orbweaver.__file__).resolve().parent


def test_shipped_scenarios_live_inside_the_package() -> None:
    assert scenario.SCENARIO_DIR.resolve().is_relative_to(PACKAGE)
    for name in ("table-1.0.toml", "table-1.0.csv", "small.toml", "fidelity.toml"):
        assert (scenario.SCENARIO_DIR / name).is_file(), name


@pytest.mark.parametrize("name", ["scenarios/small.toml", "small.toml"])
def test_a_shipped_scenario_loads_by_name_from_any_folder(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert scenario.find(name) == scenario.SCENARIO_DIR / "small.toml"
    assert scenario.load(name).providers


def test_a_file_in_the_current_folder_comes_before_the_shipped_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scenarios").mkdir()
    own = tmp_path / "scenarios" / "small.toml"
    own.write_text((scenario.SCENARIO_DIR / "small.toml").read_text())
    assert scenario.find("scenarios/small.toml").resolve() == own
    assert scenario.find("no-such.toml") == Path("no-such.toml")


def test_no_module_looks_above_the_package_for_its_files() -> None:
    """`Path(__file__).parents[n]` climbing out of `src/orbweaver` works only in a checkout."""
    climbing = re.compile(r"__file__\)?(\.resolve\(\))?\.(parents\[|parent\.parent)")
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if climbing.search(path.read_text())
    ]
    assert offenders == []
