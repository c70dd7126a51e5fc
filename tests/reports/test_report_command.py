"""`orbweaver report`: Figure 1.0 and Table 1.0. Its old second job, `report URL...` (public
reports), is `orbweaver submit` now; the old form keeps working for one release and says so on
stderr, and the reports stage reaches `submit` through the CLI, never by importing crawl."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
import typer
from typer.testing import CliRunner

from orbweaver.reports import commands
from orbweaver.store import open_store
from orbweaver.store.models import CrawlSeed

REPORTS = Path(commands.__file__).parent


def _cli(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORBWEAVER_")}
    env |= {"ORBWEAVER_DATABASE_URL": f"sqlite:///{tmp / 'o.db'}", "ORBWEAVER_DATA_DIR": str(tmp)}
    argv = [sys.executable, "-m", "orbweaver.cli", *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)


def test_report_with_urls_still_records_them_and_says_it_is_deprecated(tmp_path: Path) -> None:
    url = "http://a.test/page.html"
    done = _cli(tmp_path, "report", url, "--reporter", "tipline", "--note", "seen today")
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == commands.DEPRECATED_URLS
    assert "orbweaver submit URL" in done.stderr
    assert done.stdout.strip() == "recorded 1 new report(s), 0 already known"
    store = open_store(f"sqlite:///{tmp_path / 'o.db'}")
    try:
        with store.session() as s:
            seeds = s.scalars(sa.select(CrawlSeed)).all()
            assert [(x.url, x.source, x.reporter, x.note) for x in seeds] == [
                (url, "report", "tipline", "seen today")
            ]
    finally:
        store.dispose()


def test_report_without_urls_is_the_report_and_warns_nothing(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    done = _cli(tmp_path, "report", "--quiet", "--json", str(out))
    assert done.returncode == 0, done.stderr
    assert "deprecated" not in done.stderr
    assert json.loads(out.read_text())["summary"]["targeted"] == 0


def test_report_urls_without_a_submit_command_fail_clearly() -> None:
    app = typer.Typer()
    app.callback()(lambda: None)  # a group, as the real CLI is, but without crawl's `submit`
    commands.register(app)
    result = CliRunner().invoke(app, ["report", "http://a.test/"])
    assert result.exit_code == 2
    assert commands.DEPRECATED_URLS in result.output
    assert "no `submit` command" in result.output


def test_the_reports_stage_does_not_import_crawl() -> None:
    for path in REPORTS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith("orbweaver.crawl"), path.name
            if isinstance(node, ast.Import):
                assert all(not a.name.startswith("orbweaver.crawl") for a in node.names)
