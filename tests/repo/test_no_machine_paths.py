"""No tracked file names a path of the machine it was written on: a clone elsewhere has none of
them, so such a path is a test that reads nothing, a doc that points nowhere, or a leak."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Spelled in pieces so that this file does not match itself.
MACHINE_PATH = re.compile(
    rb"(?<![\w.~-])/(?:" + b"wo" + rb"rk|" + b"ro" + rb"ot|" + b"ho" + rb"me/[\w.-]+)/"
)


def tracked_files() -> list[Path]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    listing = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    return [ROOT / name.decode() for name in listing.split(b"\0") if name]


def machine_paths(data: bytes) -> list[str]:
    return [m.group().decode(errors="replace") for m in MACHINE_PATH.finditer(data)]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        (b'SEED = Path("/' + b"work/shared/seed/table-1.0.csv" + b'")', True),
        (b"cache in /" + b"root/.cache/pip", True),
        (b"see /" + b"home/alice/orbweaver", True),
        (b"Chromium at /usr/bin/chromium, a URL http://127.0.0.1:8080/work/item", False),
        (b"relative: tests/data/seed/table-1.0.csv, ../shared/seed/", False),
    ],
)
def test_the_pattern_finds_machine_paths_and_nothing_else(text: bytes, found: bool) -> None:
    assert bool(machine_paths(text)) is found


def test_no_tracked_file_holds_an_absolute_path_of_this_machine() -> None:
    offenders = {}
    for path in tracked_files():
        if path.is_file() and not path.is_symlink():
            hits = machine_paths(path.read_bytes())
            if hits:
                offenders[str(path.relative_to(ROOT))] = hits
    assert offenders == {}
