"""`orbweaver hash`: the JSON-lines contract scripts depend on."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from orbweaver.cli import app
from orbweaver.signals import hash_path

PDQ_IMAGES = Path(__file__).parents[1] / "data" / "pdq" / "images"
KEYS = {"path", "sha256", "sha1", "md5", "pdq", "pdq_quality"}


def run(*args: str) -> tuple[int, list[dict[str, object]]]:
    result = CliRunner().invoke(app, ["hash", *args])
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    return result.exit_code, lines


def test_good_files_exit_zero() -> None:
    paths = sorted(str(p) for p in (PDQ_IMAGES / "dih").glob("*.jpg"))
    code, lines = run("--json", *paths)
    assert code == 0 and len(lines) == len(paths)
    for path, line in zip(paths, lines, strict=True):
        assert set(line) == KEYS and line["path"] == path
        assert isinstance(line["pdq"], str) and len(line["pdq"]) == 64
        assert line["pdq"] == hash_path(path).pdq and isinstance(line["pdq_quality"], int)


def test_failures_reported_and_batch_continues(tmp_path: Path) -> None:
    good = str(next((PDQ_IMAGES / "dih").glob("*.jpg")))
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.jpg"
    text.write_text("not a picture")
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(Path(good).read_bytes()[:3000])
    missing = tmp_path / "missing.png"
    code, lines = run(str(empty), good, str(text), str(truncated), str(missing))
    assert code == 1 and len(lines) == 5
    assert set(lines[1]) == KEYS
    for line in (lines[0], lines[2], lines[3], lines[4]):
        assert set(line) == {"path", "error"} and line["error"]
    assert lines[0]["error"] == "empty file"
    assert str(lines[2]["error"]).startswith("not an image")
    assert str(lines[3]["error"]).startswith("broken image")


def test_without_json_flag_same_output() -> None:
    good = str(next((PDQ_IMAGES / "dih").glob("*.jpg")))
    assert run(good) == run("--json", good)
