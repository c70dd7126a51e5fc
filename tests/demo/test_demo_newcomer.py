"""The demo for a newcomer (issue 20): its suspect key kept with its store, the last crawl's
suspects left open for a person at the console, and the way to open that console printed."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from orbweaver.clock import SettableClock
from orbweaver.demo.run import DemoOptions, _drive, console_lines, keep_key

T0 = datetime(2021, 3, 1, tzinfo=UTC)


class FakeProduct:
    def __init__(self, clock: SettableClock) -> None:
        self.clock = clock
        self.crawls: list[datetime] = []
        self.stats: dict[str, Any] = {"assessments": 0, "review_seconds": 0.0}

    def sync_clock(self) -> datetime:
        return self.clock.now()

    def crawl(self, seeds: list[str], budget: float) -> None:
        self.crawls.append(self.clock.now())

    def notify_and_check(self) -> None:
        pass

    def next_due(self) -> None:
        return None


class FakeWorld:
    def __init__(self, clock: SettableClock) -> None:
        self.clock = clock
        self.info = {"seeds": ["http://board.example.test/"]}


def reviewed_after(leave_open: bool) -> tuple[list[datetime], list[datetime]]:
    clock = SettableClock(T0)
    product = FakeProduct(clock)
    rounds: list[datetime] = []

    def review_round(analysts: list[Any]) -> int:
        rounds.append(clock.now())
        return 0

    options = DemoOptions(days=10, crawl_every_days=5, leave_open=leave_open)
    _drive(options, FakeWorld(clock), product, [], review_round, None)  # type: ignore[arg-type]
    return product.crawls, rounds


def test_the_last_crawls_suspects_are_left_for_the_console() -> None:
    crawls, rounds = reviewed_after(leave_open=True)
    assert crawls == [T0, T0 + timedelta(days=5)]
    assert rounds == [T0]  # the last crawl's suspects stay open
    assert reviewed_after(leave_open=False)[1] == crawls  # the figures' runs review all
    assert not DemoOptions().leave_open


def test_the_key_is_kept_with_the_store_and_the_console_explained(tmp_path: Path) -> None:
    path = keep_key(tmp_path, "k3y")
    assert path.read_text() == "k3y\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = "\n".join(console_lines(tmp_path, f"sqlite:///{tmp_path}/orbweaver.db"))
    assert f'ORBWEAVER_SUSPECT_KEY="$(cat {path})"' in lines
    assert "orbweaver user add" in lines and "http://127.0.0.1:8000/" in lines
