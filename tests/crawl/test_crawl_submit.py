"""`orbweaver submit URL... [--reporter X] [--note N]`: public reports become seeds for the next
crawl, each recorded once, with who reported it and what they said."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from orbweaver.store import open_store
from orbweaver.store.models import CrawlSeed, Event


def _cli(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORBWEAVER_")}
    env |= {"ORBWEAVER_DATABASE_URL": f"sqlite:///{tmp / 'o.db'}", "ORBWEAVER_DATA_DIR": str(tmp)}
    argv = [sys.executable, "-m", "orbweaver.cli", *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)


def test_submit_records_each_report_once_with_its_reporter(tmp_path: Path) -> None:
    urls = ["http://a.test/one.html", "http://b.test/two.html"]
    done = _cli(tmp_path, "submit", *urls, "--reporter", "tipline", "--note", "seen today")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "recorded 2 new report(s), 0 already known"
    assert done.stderr == ""
    again = _cli(tmp_path, "submit", urls[0])
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "recorded 0 new report(s), 1 already known"
    store = open_store(f"sqlite:///{tmp_path / 'o.db'}")
    try:
        with store.session() as s:
            seeds = s.scalars(sa.select(CrawlSeed).order_by(CrawlSeed.id)).all()
            assert [(x.url, x.source, x.reporter, x.note) for x in seeds] == [
                (url, "report", "tipline", "seen today") for url in urls
            ]
            events = s.scalars(sa.select(Event).where(Event.kind == "crawl.report")).all()
            assert sorted((e.actor, e.payload["url"]) for e in events) == [
                ("tipline", url) for url in urls
            ]
    finally:
        store.dispose()


def test_submit_needs_a_url(tmp_path: Path) -> None:
    done = _cli(tmp_path, "submit")
    assert done.returncode == 2
    assert "Missing argument" in done.stderr
