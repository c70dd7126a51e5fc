"""The CLI's documentation follows the CLI: `docs/cli.md` is what `--help` prints now, and the
README's command table names exactly the commands there are."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer.core
import typer.main

from orbweaver.cli import app

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "cli_docs.py"
WORD = re.compile(r"[a-z][a-z0-9-]*(?:/[a-z][a-z0-9-]*)*")


def run_docs_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_md_matches_every_commands_help() -> None:
    result = run_docs_script("--check")
    assert result.returncode == 0, f"docs/cli.md is stale, run `make docs`: {result.stderr}"


def test_a_stale_cli_md_is_caught(tmp_path: Path) -> None:
    stale = tmp_path / "cli.md"
    stale.write_text((ROOT / "docs" / "cli.md").read_text().replace("--help", "--hlep", 1))
    result = run_docs_script("--check", "--out", str(stale))
    assert result.returncode == 1
    assert "stale" in result.stderr


def cli_commands() -> set[tuple[str, ...]]:
    """Every command that does something: leaves, and groups that run without a sub-command."""
    found: set[tuple[str, ...]] = set()

    def walk(command: object, path: tuple[str, ...]) -> None:
        if isinstance(command, typer.core.TyperGroup):
            if path and command.invoke_without_command:
                found.add(path)
            for name, sub in command.commands.items():
                if not sub.hidden:
                    walk(sub, (*path, name))
        else:
            found.add(path)

    walk(typer.main.get_command(app), ())
    return found


def cli_groups() -> set[tuple[str, ...]]:
    groups: set[tuple[str, ...]] = set()

    def walk(command: object, path: tuple[str, ...]) -> None:
        if isinstance(command, typer.core.TyperGroup):
            groups.add(path)
            for name, sub in command.commands.items():
                walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return groups


def readme_table_rows(readme: str) -> list[str]:
    """The second column of the README's `| stage | commands |` table."""
    lines = readme.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"\|\s*stage\s*\|\s*commands", line))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = re.split(r"(?<!\\)\|", line)
        rows.append(cells[2])
    return rows


def named_commands(cell: str, top_level: set[str]) -> list[tuple[str, ...]]:
    """The commands a table cell names: each code span that starts with `orbweaver`, or with a
    top-level command's name (`bank list` after `orbweaver bank create`); its leading lower-case
    words are the command (`enable/disable` names two). Other code spans (a URL path, a package
    name) are not commands."""
    named: list[tuple[str, ...]] = []
    for span in re.findall(r"`([^`]+)`", cell):
        words = span.split()
        if words[:1] == ["orbweaver"]:
            words = words[1:]
        elif not words or words[0] not in top_level:
            continue
        path: list[str] = []
        for word in words:
            if not WORD.fullmatch(word):
                break
            path.append(word)
        if not path:
            continue
        *head, last = path
        named.extend((*head, alternative) for alternative in last.split("/"))
    return named


def test_readme_command_table_names_exactly_the_cli_commands() -> None:
    commands, groups = cli_commands(), cli_groups()
    top_level = {path[0] for path in commands}
    named: set[tuple[str, ...]] = set()
    for cell in readme_table_rows((ROOT / "README.md").read_text()):
        named.update(named_commands(cell, top_level))
    # A command named with its arguments (`notices export --format xarf DIR`) stops at them;
    # a group named alone (`orbweaver notices`) is fine when it runs without a sub-command.
    unknown = {" ".join(p) for p in named if p not in commands and p not in groups}
    assert unknown == set(), "in the README's table but not in the CLI"
    missing = {" ".join(p) for p in commands if p not in named}
    assert missing == set(), "in the CLI but not in the README's table"


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (
            "`orbweaver bank create NAME [--threshold 31]`, `bank enable/disable`",
            [("bank", "create"), ("bank", "enable"), ("bank", "disable")],
        ),
        ("`orbweaver user add NAME --role analyst\\|admin`", [("user", "add")]),
        ("the console at `/console`, `arachnid-shield-sdk` works", []),
        ("`orbweaver notices export --format xarf DIR`", [("notices", "export")]),
    ],
)
def test_table_cells_are_read_as_commands(cell: str, expected: list[tuple[str, ...]]) -> None:
    assert named_commands(cell, {"bank", "user", "notices"}) == expected
