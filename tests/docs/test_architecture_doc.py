"""docs/architecture.md's layer table is the layers contract lint-imports checks, and the other
way round: one cannot change without the other."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def contract_layers() -> list[set[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in config["contracts"] if c["type"] == "layers"]
    return [
        {name.strip().strip("()").removeprefix("orbweaver.") for name in layer.split("|")}
        for layer in layers
    ]


def documented_layers() -> list[set[str]]:
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## Stages and what each may import", 1)[1].split("\n## ", 1)[0]
    layers = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) > 2 and cells[0].isdigit():
            layers.append(set(re.findall(r"`([a-z_]+)`", cells[1])))
    return layers


def test_the_documented_layers_are_the_checked_ones() -> None:
    documented = documented_layers()
    assert documented, "no layer table in docs/architecture.md"
    assert documented == contract_layers()


def test_the_package_and_every_stage_point_to_the_design() -> None:
    """The design lives in the repository: the package's and every stage's docstring name it,
    and none names a design document from outside it."""
    import ast

    src = ROOT / "src" / "orbweaver"
    inits = [src / "__init__.py", *sorted(src.glob("*/__init__.py"))]
    assert len(inits) > 10
    missing = [
        str(p.relative_to(ROOT))
        for p in inits
        if "docs/architecture.md" not in (ast.get_docstring(ast.parse(p.read_text())) or "")
    ]
    assert missing == []
    outside = [p for p in src.rglob("*.py") if "DESIGN.md" in p.read_text()]
    assert outside == []
