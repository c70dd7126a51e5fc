"""Fixtures for crawl tests: loopback servers, a store, and a crawl run in a subprocess (the
Twisted reactor cannot restart in one process, and a subprocess is exactly `orbweaver crawl`)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from loopback import LoopbackHTTP

from orbweaver.store import Store, open_store
from orbweaver.store.vault import new_key


@dataclass
class CrawlRun:
    returncode: int
    log: str
    stderr: str


class Crawler:
    """Runs `orbweaver crawl` against a temp store with a given environment."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.db_url = f"sqlite:///{tmp / 'orbweaver.db'}"
        self.env = {
            "ORBWEAVER_DATABASE_URL": self.db_url,
            "ORBWEAVER_DATA_DIR": str(tmp / "data"),
            "ORBWEAVER_CRAWL_ALLOW_NETWORKS": "127.0.0.1/32",
            "ORBWEAVER_SUSPECT_KEY": new_key(),
            "ORBWEAVER_DNS_SERVERS": "",
            "ORBWEAVER_TOR_PROXY": "",
            "ORBWEAVER_REDIS_URL": "",
            # these tests look at every sighting, matched or not; the compact layout that keeps
            # unmatched ones on clean hosts as hashes and counts (the default, issue 22) is
            # tested end to end in test_crawl_compact.py
            "ORBWEAVER_CRAWL_UNMATCHED": "full",
        }
        self.runs = 0

    def store(self) -> Store:
        return open_store(self.db_url)

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "orbweaver.cli", *args]

    def environ(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORBWEAVER_")}
        env.update(self.env)
        env.update(extra)
        for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
            env.pop(proxy, None)
        return env

    def run(self, *args: str, timeout: float = 120, **extra: str) -> CrawlRun:
        self.runs += 1
        log = self.tmp / f"crawl-{self.runs}.log"
        argv = self.command("crawl", "--until-idle", "--no-progress", "--log-file", str(log), *args)
        done = subprocess.run(
            argv, env=self.environ(**extra), capture_output=True, text=True, timeout=timeout
        )
        text = log.read_text(errors="replace") if log.exists() else ""
        return CrawlRun(done.returncode, text, done.stderr)


@pytest.fixture
def http() -> Iterator[LoopbackHTTP]:
    server = LoopbackHTTP()
    yield server
    server.stop()


@pytest.fixture
def crawler(tmp_path: Path) -> Crawler:
    return Crawler(tmp_path)
