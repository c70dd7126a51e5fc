"""Mutation testing of the rules that decide figures, notices and guards (`make mutate`).

Cosmic Ray (https://cosmic-ray.readthedocs.io) mutates one module at a time, in place, runs that
module's own fast test selection against every mutant, and restores the file. Each module's
session (an SQLite file) and a summary land in `var/mutation/`; TESTING.md holds the scores and
the survivors judged equivalent.

    .venv/bin/python scripts/mutate.py                  # every module below
    .venv/bin/python scripts/mutate.py monitor-removal banks-matcher
    .venv/bin/python scripts/mutate.py --list           # the modules and their tests
    .venv/bin/python scripts/mutate.py --report NAME    # the survivors of a finished session
    .venv/bin/python scripts/mutate.py --recheck NAME   # its survivors again, after new tests

Too slow for CI (minutes to an hour a module on a loaded machine). The mutants are written in a
copy of the working tree (`var/mutation/tree-NAME/`, imported ahead of the editable install), never
over the checkout, so several modules can run side by side while tests are written.

A mutant runs only the tests that execute its line: the module's selection runs once under
coverage.py with one context per test (this file is also the pytest plugin that switches them),
and each mutant's statement is mapped to the tests whose setup, call or teardown executed it. A
line executed in a test's setup or teardown (a module-scoped fixture) selects that test's whole
file; a line executed at import selects the whole selection; a line no test executes is a
survivor at once, "not covered". `--recheck` measures the tests again and runs the survivors
against those that execute them; `--recheck NAME --whole` runs every test for each.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "var" / "mutation"
PYTEST = [str(ROOT / ".venv" / "bin" / "pytest"), "-x", "-q", "-p", "no:cacheprovider"]
PYTEST += ["-m", "not postgres and not slow and not redis"]  # no shared servers

# Operators left out, and why (the rest of Cosmic Ray's core set runs):
# - arithmetic/bitwise replacements beyond the one realistic slip per operator (`+`<->`-`,
#   `*`<->`/`, `//`->`/`, `|`<->`&`): `a + b` -> `a ** b`, `a >> b`, `a % b`... are caught by
#   the same tests as `a - b` and multiply the run time by ten;
# - comparisons replaced by an unrelated one (`==` -> `<`): the boundary (`<`<->`<=`), negated
#   (`==`<->`!=`, `is`<->`is not`, `in`<->`not in`) and flipped (`<`<->`>`) ones stay;
# - removing a decorator: `@dataclass`, `@property` gone fails on import, every time.
EXCLUDED_OPERATORS = [
    r"core/ReplaceBinaryOperator_(?!(Add_Sub|Sub_Add|Mul_Div|Div_Mul|FloorDiv_Div|BitOr_BitAnd|BitAnd_BitOr)$).*",
    r"core/ReplaceComparisonOperator_(Eq|NotEq)_(Lt|LtE|Gt|GtE)$",
    r"core/ReplaceComparisonOperator_(Lt|LtE|Gt|GtE)_(Eq|NotEq)$",
    r"core/ReplaceComparisonOperator_(Eq|NotEq)_(Is|IsNot)$",
    r"core/ReplaceComparisonOperator_(Is|IsNot)_(Eq|NotEq)$",
    r"core/ReplaceComparisonOperator_Lt_GtE$",
    r"core/ReplaceComparisonOperator_LtE_Gt$",
    r"core/ReplaceComparisonOperator_Gt_LtE$",
    r"core/ReplaceComparisonOperator_GtE_Lt$",
    r"core/RemoveDecorator$",
]


@dataclass(frozen=True)
class Module:
    """A set of source files whose rules one fast test selection pins."""

    files: tuple[str, ...]
    tests: tuple[str, ...]
    what: str


MODULES: dict[str, Module] = {
    "monitor-removal": Module(
        ("src/orbweaver/monitor/removal.py",),
        ("tests/monitor/test_removal_instant.py", "tests/monitor/test_monitor.py"),
        "removal instant and removal time",
    ),
    "monitor-recidivism": Module(
        ("src/orbweaver/monitor/recidivism.py",),
        ("tests/monitor/test_recidivism.py", "tests/monitor/test_recidivism_direct.py"),
        "recidivism: same provider, first earlier notice, PDQ within the bank threshold",
    ),
    "monitor-service": Module(
        ("src/orbweaver/monitor/service.py", "src/orbweaver/monitor/cadence.py"),
        ("tests/monitor",),
        "re-check schedule, outcomes, miss streak and confirmation, the cadence recorded",
    ),
    "reports-survival": Module(
        ("src/orbweaver/reports/survival.py",),
        ("tests/reports/test_reports.py",),
        "survival statistics of removal times (censoring, medians)",
    ),
    "notices-rounds": Module(
        ("src/orbweaver/notices/rounds.py",),
        ("tests/notices/test_rounds_order.py", "tests/notices/test_notices.py"),
        "follow-ups, escalations, miss streaks",
    ),
    "notices-outbox": Module(
        ("src/orbweaver/notices/outbox.py",),
        ("tests/notices",),
        "outbox keys, claims, retries",
    ),
    "banks-matcher": Module(
        ("src/orbweaver/banks/matcher.py",),
        (
            "tests/banks/test_matcher_rules.py",
            "tests/banks/test_matcher.py",
            "tests/banks/test_new_signal_type.py",
        ),
        "bank thresholds, enabled banks, exact and near matches",
    ),
    "signals-pdq-index": Module(
        ("src/orbweaver/signals/pdq_index.py",),
        ("tests/signals/test_pdq_index_bound.py", "tests/signals/test_pdq_index.py"),
        "exact PDQ range search (pigeonhole bound, segments, merges)",
    ),
    "net-policy": Module(
        ("src/orbweaver/net/policy.py", "src/orbweaver/net/fetch.py"),
        (
            "tests/net/test_net_policy.py",
            "tests/net/test_fetch_limits.py",
            "tests/net/test_policy_defaults.py",
            "tests/net/test_net_fetch.py",
        ),
        "address ranges, pinning, redirects, caps, Tor routing",
    ),
    "signals-archives": Module(
        ("src/orbweaver/signals/archives.py",),
        (
            "tests/crawl/test_crawl_units.py",
            "tests/signals/test_signal_types.py",
            "tests/hostile/test_hostile_archives.py",
        ),
        "archive limits (bombs, member counts, sizes)",
    ),
    "review-decisions": Module(
        ("src/orbweaver/review/decisions.py", "src/orbweaver/review/exposure.py"),
        ("tests/review/test_review_domain.py", "tests/review/test_review_api_exposure.py"),
        "review consensus and daily exposure",
    ),
    "store-vault": Module(
        ("src/orbweaver/store/vault.py",),
        ("tests/store/test_vault_compat.py", "tests/store/test_vault.py", "tests/test_vault.py"),
        "the vault: sealed media, keys, contexts",
    ),
    "web-verdict": Module(
        ("src/orbweaver/web/verdict.py", "src/orbweaver/web/shield.py"),
        (
            "tests/web/test_shield_rules.py",
            "tests/web/test_web_shield.py",
            "tests/web/test_shield_explanations.py",
            "tests/web/test_web_hardening.py",
            "tests/banks/test_new_signal_type.py",
        ),
        "Shield verdicts",
    ),
}


def _tests(module: Module) -> list[str]:
    """The module's tests that exist (a test file may have moved to its stage folder)."""
    found = [t for t in module.tests if (ROOT / t).exists()]
    if not found:
        raise SystemExit(f"none of {module.tests} exists")
    return found


def test_command(module: Module, tree: Path) -> str:
    """The module's tests, importing the package from `tree` (ahead of the editable install)."""
    env = f"env PYTHONDONTWRITEBYTECODE=1 PYTHONPATH={shlex.quote(str(tree / 'src'))}"
    return f"{env} {shlex.join([*PYTEST, *_tests(module)])}"


# --- the pytest plugin of the coverage run (`-p mutate`, with this folder on PYTHONPATH) ---


def _switch(context: str) -> None:
    import coverage

    cov = coverage.Coverage.current()
    if cov is not None:
        cov.switch_context(context)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _switch(f"{item.nodeid}|setup")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    _switch(f"{item.nodeid}|run")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    _switch(f"{item.nodeid}|teardown")


@pytest.hookimpl(trylast=True)
def pytest_runtest_logfinish() -> None:
    _switch("")


_RUN: dict[str, dict[str, float]] = {"seconds": {}}
_ORDER: list[str] = []


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    _ORDER[:] = [i.nodeid for i in items]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    seconds = _RUN["seconds"]
    seconds[report.nodeid] = seconds.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish() -> None:
    order = os.environ.get("MUTATE_ORDER")
    if order:
        Path(order).write_text(json.dumps({"order": _ORDER, "seconds": _RUN["seconds"]}))


# --- coverage-based test selection ---


@dataclass(frozen=True)
class Coverage:
    """Which tests execute each line of the mutated files (paths relative to the tree)."""

    lines: dict[str, dict[int, set[str]]]  # file -> line -> contexts ("" = import time)
    order: list[str]  # the selection's node ids, in the order pytest ran them
    seconds: dict[str, float]  # each test's setup + call + teardown in the coverage run
    overhead: float  # the rest of that run: start, imports, collection

    def timeout(self, selected: list[str], floor: float) -> float:
        """Four times what the selected tests took in the coverage run (which is slower than
        a plain run), not less than `floor`: a mutant that hangs costs that, not the timeout
        of the whole selection."""
        took = sum(
            t
            for nodeid, t in self.seconds.items()
            if nodeid in selected or nodeid.split("::")[0] in selected
        )
        return max(floor, 4 * (self.overhead + took))

    def select(self, path: str, span: tuple[int, int]) -> list[str] | None:
        """The node ids (or whole test files) that execute lines `span` of `path`, in run
        order; None for the whole selection, [] when no test executes them."""
        contexts: set[str] = set()
        for line in range(span[0], span[1] + 1):
            contexts |= self.lines.get(path, {}).get(line, set())
        if "" in contexts:
            return None
        tests: set[str] = set()
        files: set[str] = set()
        for context in contexts:
            nodeid, _, phase = context.rpartition("|")
            if phase == "run":
                tests.add(nodeid)
            else:  # a fixture: module-scoped ones serve every test of the file after it
                files.add(nodeid.split("::")[0])
        chosen: list[str] = []
        for nodeid in self.order:
            file = nodeid.split("::")[0]
            if file in files:
                if file not in chosen:
                    chosen.append(file)
            elif nodeid in tests:
                chosen.append(nodeid)
        return chosen


def measure(name: str, module: Module, tree: Path) -> tuple[Coverage, float]:
    """Run the module's tests once under coverage, one context per test phase; fail if they
    fail unmutated. Returns the map and the seconds the run took."""
    from coverage import CoverageData

    data_file = OUT / f"{name}.coverage"
    order_file = OUT / f"{name}.order.json"
    data_file.unlink(missing_ok=True)
    include = ",".join(str(tree / f) for f in module.files)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", MUTATE_ORDER=str(order_file))
    env["PYTHONPATH"] = os.pathsep.join([str(tree / "src"), str(ROOT / "scripts")])
    python = str(ROOT / ".venv" / "bin" / "python")
    command = [python, "-m", "coverage", "run", f"--data-file={data_file}", f"--include={include}"]
    command += ["-m", "pytest", "-p", "mutate", *PYTEST[1:], *_tests(module)]
    started = time.monotonic()
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True)
    took = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"{name}: the tests fail unmutated\n{done.stdout.decode()[-3000:]}")
    ran = json.loads(order_file.read_text())
    overhead = max(0.0, took - sum(ran["seconds"].values()))
    data = CoverageData(str(data_file))
    data.read()
    lines: dict[str, dict[int, set[str]]] = {}
    for measured in data.measured_files():
        rel = str(Path(measured).resolve().relative_to(tree.resolve()))
        by_line = data.contexts_by_lineno(measured)
        lines[rel] = {line: set(contexts) for line, contexts in by_line.items()}
    return Coverage(lines, ran["order"], ran["seconds"], overhead), took


def _statement_span(path: Path, start: tuple[int, int], end: tuple[int, int]) -> tuple[int, int]:
    """The lines to look up for a mutation at `start`..`end`: the innermost statement around it
    (only the header of a compound one: `if`, `def` with its decorators...)."""
    best: tuple[int, int] | None = None
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.stmt):
            continue
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        last = node.end_lineno or node.lineno
        if not first <= start[0] <= last:
            continue
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and start[0] < body[0].lineno:
            last = body[0].lineno - 1
        elif isinstance(body, list) and body:
            continue  # inside the body: an inner statement is the one
        if best is None or last - first < best[1] - best[0]:
            best = (first, last)
    first, last = best or (start[0], end[0])
    return min(first, start[0]), max(last, end[0])


def scratch_tree(name: str) -> Path:
    """A copy of the working tree (tracked files and new ones, as they are now) where the
    mutants are written: the checkout itself is never touched, so runs of different modules can
    go on side by side and tests can be written meanwhile."""
    tree = OUT / f"tree-{name}"
    shutil.rmtree(tree, ignore_errors=True)
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        source = ROOT / rel
        if source.is_file():
            (tree / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, tree / rel)
    return tree


def _config(name: str, module: Module, tree: Path, timeout: float) -> Path:
    path = OUT / f"{name}.toml"
    files = ", ".join(json.dumps(f) for f in module.files)
    path.write_text(
        "[cosmic-ray]\n"
        f"module-path = [{files}]\n"
        f"timeout = {timeout:.0f}\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(test_command(module, tree))}\n"
        "\n[cosmic-ray.distributor]\n"
        'name = "local"\n'
    )
    return path


def _annotation_spans(path: Path) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) of every annotation: with `from __future__ import annotations` they are
    never evaluated, so a mutant inside one (`str | None` -> `str & None`) is equivalent."""
    spans = []
    for node in ast.walk(ast.parse(path.read_text())):
        notes = []
        if isinstance(node, ast.arg | ast.AnnAssign) and node.annotation is not None:
            notes.append(node.annotation)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns:
            notes.append(node.returns)
        for n in notes:
            assert n.end_lineno is not None and n.end_col_offset is not None
            spans.append(((n.lineno, n.col_offset), (n.end_lineno, n.end_col_offset)))
    return spans


def _skip(session: Path, tree: Path) -> tuple[int, int]:
    """Mark as skipped the excluded operators and mutants inside annotations."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    excluded = re.compile("|".join(f"(?:{e})" for e in EXCLUDED_OPERATORS))
    spans: dict[Path, list[tuple[tuple[int, int], tuple[int, int]]]] = {}
    by_operator = in_annotation = 0
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item in list(db.pending_work_items):
            for m in item.mutations:
                path = tree / m.module_path
                if path not in spans:
                    spans[path] = _annotation_spans(path)
                start = tuple(m.start_pos)
                if excluded.match(m.operator_name):
                    why, by_operator = "excluded operator", by_operator + 1
                elif any(a <= start < b for a, b in spans[path]):
                    why, in_annotation = "in an annotation", in_annotation + 1
                else:
                    continue
                db.set_result(
                    item.job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED, output=why)
                )
                break
    return by_operator, in_annotation


def summary(name: str) -> dict[str, object]:
    """Counts and survivors of a session, read from its database."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome

    counts = {"killed": 0, "survived": 0, "incompetent": 0, "skipped": 0, "pending": 0}
    counts["not covered"] = 0  # survivors no test executes (counted in "survived" too)
    survivors = []
    with use_db(str(OUT / f"{name}.sqlite"), WorkDB.Mode.open) as db:
        done = {job: result for job, result in db.results}
        for item in db.work_items:
            result = done.get(item.job_id)
            if result is None:
                counts["pending"] += 1
            elif result.worker_outcome == WorkerOutcome.SKIPPED:
                counts["skipped"] += 1
            elif result.test_outcome == TestOutcome.SURVIVED:
                counts["survived"] += 1
                counts["not covered"] += result.output == "not covered"
                m = item.mutations[0]
                survivors.append(
                    {
                        "file": str(m.module_path),
                        "line": m.start_pos[0],
                        "operator": m.operator_name,
                        "occurrence": m.occurrence,
                        "diff": result.diff,
                        "not covered": result.output == "not covered",
                    }
                )
            elif result.test_outcome == TestOutcome.INCOMPETENT:
                counts["incompetent"] += 1  # timed out or crashed: counted as killed
            else:
                counts["killed"] += 1
    run = counts["killed"] + counts["survived"] + counts["incompetent"]
    killed = counts["killed"] + counts["incompetent"]
    return {
        "module": name,
        "counts": counts,
        "score": f"{killed}/{run}",
        "survivors": sorted(survivors, key=lambda s: (s["file"], s["line"])),
    }


def execute(
    name: str,
    module: Module,
    tree: Path,
    cover: Coverage,
    timeout: float,
    *,
    survivors: bool = False,
) -> dict[str, float]:
    """Run every pending mutant of the session against the tests that execute its statement
    (Cosmic Ray's own mutate-and-test, one mutant at a time). Returns how many ran with the
    whole selection, with part of it, or not at all, and the seconds they took."""
    from cosmic_ray.mutating import mutate_and_test
    from cosmic_ray.work_db import WorkDB, use_db

    base = test_command(module, tree)
    spans: dict[tuple[str, tuple[int, int], tuple[int, int]], tuple[int, int]] = {}
    ran = {"whole selection": 0.0, "tests selected": 0.0, "not covered": 0.0, "seconds": 0.0}
    started = time.monotonic()
    os.chdir(tree)  # the sessions' module paths are relative to the tree
    with use_db(str(OUT / f"{name}.sqlite"), WorkDB.Mode.open) as db:
        items = _survivors(db) if survivors else list(db.pending_work_items)
        for item in items:
            selected: list[str] | None = []
            for m in item.mutations:
                path = str(m.module_path)
                key = (path, tuple(m.start_pos), tuple(m.end_pos))
                if key not in spans:
                    spans[key] = _statement_span(tree / path, key[1], key[2])
                chosen = cover.select(path, spans[key])
                if chosen is None or selected is None:
                    selected = None
                else:
                    selected += [c for c in chosen if c not in selected]
            if selected == []:  # no test executes it: a survivor, with its diff
                result = mutate_and_test(item.mutations, "true", timeout)
                result = result.__class__(
                    worker_outcome=result.worker_outcome,
                    test_outcome=result.test_outcome,
                    diff=result.diff,
                    output="not covered",
                )
                ran["not covered"] += 1
            else:
                ran["whole selection" if selected is None else "tests selected"] += 1
                if selected is None:
                    result = mutate_and_test(item.mutations, base, timeout)
                else:
                    command = _selection_command(tree, selected)
                    limit = min(timeout, cover.timeout(selected, floor=60.0))
                    result = mutate_and_test(item.mutations, command, limit)
            db.set_result(item.job_id, result)
    os.chdir(ROOT)
    ran["seconds"] = round(time.monotonic() - started, 1)
    return ran


def _survivors(db: Any) -> list[Any]:
    from cosmic_ray.work_item import TestOutcome

    done = dict(db.results)
    return [
        item
        for item in db.work_items
        if item.job_id in done and done[item.job_id].test_outcome == TestOutcome.SURVIVED
    ]


def _selection_command(tree: Path, selected: Iterable[str]) -> str:
    env = f"env PYTHONDONTWRITEBYTECODE=1 PYTHONPATH={shlex.quote(str(tree / 'src'))}"
    return f"{env} {shlex.join([*PYTEST, *selected])}"


def resume(name: str) -> dict[str, object]:
    """Go on with the mutants of an interrupted session not yet run (in a fresh copy of the
    tree, so with the tests as they are now, measured again)."""
    module = MODULES[name]
    tree = scratch_tree(name)
    previous = OUT / f"{name}.toml"
    timeout = float(re.findall(r"(?m)^timeout = (\S+)$", previous.read_text())[0])
    started = time.monotonic()
    cover, took = measure(name, module, tree)
    print(f"{name}: coverage run {took:.1f} s", flush=True)
    ran = execute(name, module, tree, cover, timeout)
    result = summary(name)
    result["mutants_resumed"] = ran
    result["seconds_resumed"] = round(time.monotonic() - started)
    result["load"] = os.getloadavg()
    result["tests"] = _tests(module)
    (OUT / f"{name}.json").write_text(json.dumps(result, indent=1))
    return result


def run(name: str) -> dict[str, object]:
    module = MODULES[name]
    OUT.mkdir(parents=True, exist_ok=True)
    tree = scratch_tree(name)
    started = time.monotonic()
    cover, took = measure(name, module, tree)
    config = _config(name, module, tree, timeout=max(60.0, 4 * took))
    session = OUT / f"{name}.sqlite"
    session.unlink(missing_ok=True)
    cosmic = str(ROOT / ".venv" / "bin" / "cosmic-ray")
    subprocess.run([cosmic, "init", str(config), str(session)], cwd=tree, check=True)
    skipped = _skip(session, tree)
    print(
        f"{name}: coverage run {took:.1f} s; skipped {skipped[0]} by operator, "
        f"{skipped[1]} in annotations",
        flush=True,
    )
    ran = execute(name, module, tree, cover, max(60.0, 4 * took))
    result = summary(name)
    result["mutants"] = ran
    result["coverage_run_seconds"] = round(took, 1)
    result["seconds"] = round(time.monotonic() - started)
    result["load"] = os.getloadavg()
    result["tests"] = _tests(module)
    (OUT / f"{name}.json").write_text(json.dumps(result, indent=1))
    return result


def recheck(name: str, only: list[str] | None = None, *, select: bool = True) -> dict[str, object]:
    """Run the session's survivors again against the module's tests as they are now (after
    tests were added for them), and record the new outcomes in the session. The tests are
    measured again (the new ones included) and each survivor runs those that execute its
    statement; `select=False` runs the whole selection for each (code a child process runs is
    invisible to the coverage map)."""
    from cosmic_ray.mutating import mutate_and_test
    from cosmic_ray.work_db import WorkDB, use_db

    module = MODULES[name]
    if only:  # the survivors already ran the whole selection: a subset suffices to kill them
        module = Module(module.files, tuple(only), module.what)
    tree = scratch_tree(name)
    started = time.monotonic()
    if select:
        cover, took = measure(name, module, tree)
        ran = execute(name, module, tree, cover, max(60.0, 4 * took), survivors=True)
    else:
        command = test_command(module, tree)
        os.chdir(tree)  # the sessions' module paths are relative to the tree
        with use_db(str(OUT / f"{name}.sqlite"), WorkDB.Mode.open) as db:
            for item in _survivors(db):
                db.set_result(item.job_id, mutate_and_test(item.mutations, command, 600))
        os.chdir(ROOT)
        ran = {"whole selection": -1.0}
    result = summary(name)
    path = OUT / f"{name}.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    keep = ("seconds", "load", "mutants", "coverage_run_seconds", "seconds_resumed")
    result.update({k: previous[k] for k in keep if k in previous})
    result["rechecked"] = {"mutants": ran, "seconds": round(time.monotonic() - started)}
    result["rechecked_load"] = os.getloadavg()
    result["tests"] = _tests(module)
    path.write_text(json.dumps(result, indent=1))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="names from --list (default: all)")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--report", metavar="NAME")
    parser.add_argument("--recheck", metavar="NAME", help="run a session's survivors again")
    parser.add_argument("--tests", nargs="+", help="with --recheck: only these test files")
    parser.add_argument(
        "--whole", action="store_true", help="with --recheck: every test for every survivor"
    )
    parser.add_argument("--resume", metavar="NAME", help="go on with an interrupted session")
    args = parser.parse_args()
    if args.resume:
        result = resume(args.resume)
        print(f"{args.resume}: killed {result['score']} ({result['counts']})")
        return
    if args.recheck:
        result = recheck(args.recheck, args.tests, select=not args.whole)
        print(f"{args.recheck}: killed {result['score']} ({result['counts']})")
        return
    if args.list:
        for name, m in MODULES.items():
            pad = " " * 20
            print(
                f"{name:20} {m.what}\n{pad} {' '.join(m.files)}\n{pad} tests: {' '.join(m.tests)}"
            )
        return
    if args.report:
        print(json.dumps(summary(args.report), indent=1))
        return
    names = args.modules or list(MODULES)
    unknown = [n for n in names if n not in MODULES]
    if unknown:
        raise SystemExit(f"unknown modules {unknown}; see --list")
    for name in names:
        result = run(name)
        print(
            f"{name}: killed {result['score']} ({result['counts']}), {result['seconds']} s",
            flush=True,
        )
        survivors = result["survivors"]
        assert isinstance(survivors, list)
        for s in survivors:
            why = " (not covered)" if s["not covered"] else ""
            print(f"  survived {s['file']}:{s['line']} {s['operator']}{why}")
    sys.exit(0)


if __name__ == "__main__":
    main()
