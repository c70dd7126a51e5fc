"""Each stage's `__init__` names its public surface, lazily (`orbweaver._lazy`), and the other
stages import only that.

- the surface is declared twice in one file (the `TYPE_CHECKING` imports that mypy and the
  import linter read, and the names given to `lazy_exports`): both lists, and `__all__`, agree,
  and every name resolves to the object its module defines;
- importing the packages loads nothing beyond the standard library and those package modules,
  so `orbweaver --help` stays instant;
- no module outside a stage imports one of its submodules.
"""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "orbweaver"
STAGES = (
    "access",
    "attribution",
    "banks",
    "crawl",
    "monitor",
    "notices",
    "ops",
    "reports",
    "review",
    "signals",
    "web",
)
# Imports of a stage's submodule still to be removed, each entry naming the importing file.
PENDING: set[tuple[str, str]] = set()


def _declared(stage: str) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """(TYPE_CHECKING imports, lazy_exports names, __all__) of a stage, each name -> module."""
    tree = ast.parse((SRC / stage / "__init__.py").read_text())
    typed: dict[str, str] = {}
    lazy: dict[str, str] = {}
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom) and imp.module
                typed.update({a.name: imp.module for a in imp.names})
            for stmt in node.orelse:
                assert isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call)
                exports = ast.literal_eval(stmt.value.args[1])
                for module, exported in exports.items():
                    lazy.update({name: f"orbweaver.{stage}{module}" for name in exported})
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "__all__":
            names = ast.literal_eval(node.value)
    return typed, lazy, names


@pytest.mark.parametrize("stage", STAGES)
def test_the_surface_is_declared_once_and_resolves(stage: str) -> None:
    typed, lazy, names = _declared(stage)
    assert typed, f"orbweaver.{stage} declares no public surface"
    assert typed == lazy, "TYPE_CHECKING imports and lazy_exports disagree"
    assert sorted(names) == sorted(typed), "__all__ disagrees with the declared surface"
    package = importlib.import_module(f"orbweaver.{stage}")
    for name, module in typed.items():
        assert getattr(package, name) is getattr(importlib.import_module(module), name)
    assert set(names) <= set(dir(package))
    with pytest.raises(AttributeError):
        package.no_such_name  # noqa: B018


def test_importing_the_stages_loads_only_their_packages() -> None:
    code = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        + "".join(f"import orbweaver.{stage}\n" for stage in STAGES)
        + "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout)
    ours = {"orbweaver", "orbweaver._lazy", *(f"orbweaver.{stage}" for stage in STAGES)}
    extra = [m for m in loaded if m not in ours and m.split(".")[0] not in sys.stdlib_module_names]
    assert extra == [], f"importing the stage packages also loaded {extra}"


def test_other_stages_import_only_a_stage_package() -> None:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        owner = rel.parts[0] if len(rel.parts) > 1 else None
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules = [node.module]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                parts = module.split(".")
                inside = len(parts) > 2 and parts[0] == "orbweaver" and parts[1] in STAGES
                if inside and parts[1] != owner and (rel.as_posix(), module) not in PENDING:
                    found.append(f"{rel}:{node.lineno} imports {module}")
    assert found == []
