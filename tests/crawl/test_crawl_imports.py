"""The crawl's modules import one another without a cycle, counting the imports inside
functions and under TYPE_CHECKING (a cycle there still ties the modules together)."""

from __future__ import annotations

import ast
from pathlib import Path

import orbweaver.crawl

PACKAGE = "orbweaver.crawl"


def _imports(path: Path) -> set[str]:
    """The modules of the crawl package that `path` imports, however and wherever it does."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found.update(n for n in names if n.startswith(PACKAGE + "."))
    return found


def _graph() -> dict[str, set[str]]:
    root = Path(orbweaver.crawl.__file__).parent
    modules = {f"{PACKAGE}.{p.stem}": p for p in root.glob("*.py") if p.stem != "__init__"}
    return {name: _imports(path) & set(modules) for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def test_the_cycle_finder_finds_one() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_inside_the_crawl() -> None:
    graph = _graph()
    assert {f"{PACKAGE}.{m}" for m in ("policy", "runner", "runtime", "spider")} <= set(graph)
    assert graph[f"{PACKAGE}.runner"], "the graph sees the crawl's own imports"
    assert _cycle(graph) is None
