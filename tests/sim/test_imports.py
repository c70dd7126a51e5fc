"""The sim package's modules import each other without cycles (issue 12), counting every import
as import-linter does: module level, inside functions and under TYPE_CHECKING."""

from __future__ import annotations

import ast
from pathlib import Path

import orbweaver.sim

PACKAGE = "orbweaver.sim"
ROOT = Path(orbweaver.sim.__file__).parent


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """Sibling modules of `orbweaver.sim` that `path` imports, by module name."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == PACKAGE:
            out |= {alias.name for alias in node.names if alias.name in modules}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE + "."):
            out.add((node.module or "").split(".")[2])
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[2] for a in node.names if a.name.startswith(PACKAGE + ".")}
    return out - {path.stem}


def import_graph() -> dict[str, set[str]]:
    files = {p.stem: p for p in ROOT.glob("*.py") if p.stem != "__init__"}
    return {name: imports_of(path, set(files)) for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle (as a path that returns to its start), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state and (found := visit(dep)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_sim_modules_import_each_other_without_cycles() -> None:
    graph = import_graph()
    assert {"world", "control", "behaviour"} <= set(graph)
    assert "control" in graph["world"]  # the edge the cycle ran through is still there
    assert find_cycle(graph) is None, find_cycle(graph)
