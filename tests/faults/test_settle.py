"""`Run.settle`, the driver's wait at one world instant, on a fake monotonic clock: no servers,
no real sleeps. What it must do: call an instant settled once nothing is due and the store's
counts have stayed as they are for the quiet window, measured from the first poll that saw
them; wait the long window when re-crawls fell due, until they are all re-crawled."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

import faults.campaign as campaign
from faults.campaign import DriveStopped, Run, quiet_decision


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Script:
    """What the store answers at each poll: counts, busy queues, re-crawls still due."""

    def __init__(self, polls: list[tuple[int, list[str], int]]) -> None:
        self.polls: Iterator[tuple[int, list[str], int]] = iter(polls)
        self.asked = 0
        self.current: tuple[int, list[str], int] = (0, [], 0)
        self.last_recrawls = polls[0][2]

    def counts(self) -> tuple[int, ...]:
        self.current = next(self.polls, self.current)
        self.asked += 1
        return (self.current[0],)

    def busy(self) -> list[str]:
        return self.current[1]

    def recrawls(self, since: datetime | None) -> int:
        return self.current[2] if self.asked else self.last_recrawls


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(campaign.time, "monotonic", fake.monotonic)
    monkeypatch.setattr(campaign.time, "sleep", fake.sleep)
    return fake


def run_with(
    script: Script,
    quiet_s: float = 2.0,
    recrawl_quiet_s: float = 8.0,
    stall_s: float | None = None,
    deadline: float | None = None,
) -> Run:
    run = Run.__new__(Run)
    run.quiet_s, run.recrawl_quiet_s = quiet_s, recrawl_quiet_s
    run.stall_s, run.stalls, run.due_now = stall_s, [], ()
    run.deadline, run.stop_requested, run.stopped = deadline, threading.Event(), None
    run.now = lambda: datetime(2026, 3, 16)
    run.settle_timeout_s = 600.0
    run.timing = defaultdict(float)
    run.svc = None
    run._counts = script.counts
    run._busy = script.busy
    run._recrawls_due_since = script.recrawls
    return run


def test_quiet_decision() -> None:
    assert quiet_decision(None, 10.0, 2.0) == (False, 1.0)  # working: poll in a second
    assert quiet_decision(10.0, 10.0, 2.0) == (False, 1.0)
    assert quiet_decision(10.0, 11.5, 2.0) == (False, 0.5)  # sleep until the window ends
    assert quiet_decision(10.0, 12.0, 2.0) == (True, 0.0)


def test_nothing_happens_costs_the_window_from_the_first_poll(fake_time: FakeTime) -> None:
    script = Script([(5, [], 0)])
    run_with(script).settle()
    assert sum(fake_time.sleeps) == pytest.approx(2.0)
    assert script.asked == 3  # at 0, 1 and 2 s: no sleep before the first poll


def test_a_change_or_due_work_restarts_the_window(fake_time: FakeTime) -> None:
    script = Script([(5, [], 0), (6, [], 0), (6, ["outbox"], 0), (7, [], 0)])
    run = run_with(script)
    run.settle()
    # the counts changed at 1 s, work was due at 2 s, new counts at 3 s: quiet from 3 s on
    assert sum(fake_time.sleeps) == pytest.approx(5.0)
    assert run.timing["work"] == pytest.approx(3.0)
    assert run.timing["quiet"] == pytest.approx(2.0)


def test_recrawls_due_wait_the_long_window(fake_time: FakeTime) -> None:
    script = Script([(5, [], 3)])  # re-crawls due and never done: the long window
    run_with(script).settle(since=datetime(2026, 1, 1))
    assert sum(fake_time.sleeps) == pytest.approx(8.0)


def test_recrawls_all_done_shorten_the_window(fake_time: FakeTime) -> None:
    # due at the start, re-crawled (counts changed) by the second poll, then quiet
    script = Script([(5, [], 3), (9, [], 0)])
    run = run_with(script)
    run.settle(since=datetime(2026, 1, 1))
    assert sum(fake_time.sleeps) == pytest.approx(3.0)  # 1 s working, then the 2 s window
    assert run.timing["windows_long"] == 1


# The day-75 wait of the soak (BENCHMARKS.md, issue 13): the settle loop calls an instant settled
# only when no queue has work due *and* the counts stay put. Four re-checks due at the first
# look, then none: if the monitor moves them, the counts or the due queues change and the wait
# goes on from there; if nothing moves them (no count changes, the same queues due), the loop
# waited for its timeout, an hour in the soak. With `stall_s` it stops waiting for work that
# nobody touches and keeps the stall.


def test_due_work_nobody_moves_is_a_stall_not_an_hour(fake_time: FakeTime) -> None:
    script = Script([(5, ["rechecks"], 0)])  # due for ever, counts never change
    run = run_with(script, stall_s=30.0)
    run.settle()
    assert sum(fake_time.sleeps) == pytest.approx(30.0)
    assert run.stalls == [(datetime(2026, 3, 16), ["rechecks"])]
    assert run.timing["stalled"] == 1


def test_due_work_that_moves_is_waited_for(fake_time: FakeTime) -> None:
    # the queue stays due 40 s (longer than `stall_s`) but a count moves every 10 s: work
    # going on, not a stall; then nothing is due and the short window settles the instant
    polls = [(5 + i // 10, ["rechecks"], 0) for i in range(40)] + [(9, [], 0)]
    run = run_with(Script(polls), stall_s=30.0)
    run.settle()
    assert run.stalls == []
    assert sum(fake_time.sleeps) == pytest.approx(42.0)


def test_without_stall_s_due_work_is_waited_for_until_the_timeout(fake_time: FakeTime) -> None:
    run = run_with(Script([(5, ["rechecks"], 0)]))  # the fault campaign's way, unchanged
    with pytest.raises(AssertionError, match="did not settle"):
        run.settle()
    assert sum(fake_time.sleeps) == pytest.approx(601.0)


def test_the_wall_clock_deadline_holds_inside_a_wait(fake_time: FakeTime) -> None:
    # counts changing every poll: the wait could last the whole timeout (3600 s in the soak)
    polls: list[tuple[int, list[str], int]] = [(i, [], 0) for i in range(1000)]
    run = run_with(Script(polls), deadline=fake_time.now + 5.0)
    with pytest.raises(DriveStopped, match="wall-clock limit"):
        run.settle()
    assert sum(fake_time.sleeps) <= 6.0


def test_a_stop_asked_ends_the_wait_within_a_poll(
    fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = Script([(i, [], 0) for i in range(1000)])
    run = run_with(script)
    sleep = fake_time.sleep

    def sleep_then_signal(seconds: float) -> None:  # the signal arrives during the 3rd sleep
        sleep(seconds)
        if len(fake_time.sleeps) == 3:
            run.stop_requested.set()

    monkeypatch.setattr(campaign.time, "sleep", sleep_then_signal)
    with pytest.raises(DriveStopped, match="stop was asked"):
        run.settle()
    assert script.asked == 3


class FakeWorldClock:
    def __init__(self) -> None:
        self.at = datetime(2026, 1, 1)

    def set(self, when: datetime) -> None:
        self.at = when


def driven(
    monkeypatch: pytest.MonkeyPatch,
    script: Script,
    wall_limit_s: float | None,
    stop_after_steps: int | None = None,
) -> Run:
    """`Run.drive` over `script` with no roles: one-day steps, 10 days, the given wall limit."""
    from datetime import timedelta
    from types import SimpleNamespace

    run = run_with(script)
    clock = FakeWorldClock()
    run.world = SimpleNamespace(clock=clock)
    run.now = lambda: clock.at
    run.days, run.max_step, run.min_step = 10, timedelta(days=1), timedelta(days=1)
    run.steps, run.work = 0, Path("unused")
    run.env = lambda: {}
    run.next_due = lambda: None
    monkeypatch.setattr(campaign, "Service", lambda *a: SimpleNamespace(roles=dict))
    monkeypatch.setattr(campaign, "wait_for", lambda *a: None)

    def on_step(r: Run) -> None:
        if r.steps == stop_after_steps:
            r.stop_requested.set()

    run.drive([], on_step=on_step, wall_limit_s=wall_limit_s)
    return run


def test_a_settle_past_the_wall_limit_ends_the_drive_saying_so(
    fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # two quiet instants (2 s each), then counts that change at every poll: before the fix the
    # limit was looked at only between steps, so this wait lasted the settle timeout
    none: list[str] = []
    polls = [(0, none, 0)] * 3 + [(1, none, 0)] * 3 + [(i, none, 0) for i in range(2, 1000)]
    run = driven(monkeypatch, Script(polls), wall_limit_s=30.0)
    assert run.steps == 2
    assert run.stopped is not None
    assert run.stopped.startswith("the wall-clock limit passed while the instant settled")
    assert "2026-01-03 00:00:00 (unsettled)" in run.stopped
    assert sum(fake_time.sleeps) <= 31.0


def test_a_stop_asked_between_steps_ends_the_drive_settled(
    fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the signal handler sets `stop_requested` while the bench samples the first instant
    run = driven(monkeypatch, Script([(0, [], 0)]), wall_limit_s=None, stop_after_steps=1)
    assert run.steps == 1
    assert run.stopped == "a stop was asked; stopped settled at 2026-01-01 00:00:00"


def test_bench_soak_stops_on_the_first_signal_and_interrupts_on_the_second() -> None:
    import importlib.util
    import os
    import signal
    from types import SimpleNamespace

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_soak.py"
    spec = importlib.util.spec_from_file_location("bench_soak", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    run = SimpleNamespace(stop_requested=threading.Event())
    before = signal.getsignal(signal.SIGINT)
    restore = bench.stop_on_signals(run)
    try:
        os.kill(os.getpid(), signal.SIGTERM)  # handled at once, in the main thread
        assert run.stop_requested.is_set()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    finally:
        restore()
    assert signal.getsignal(signal.SIGINT) is before


def test_a_queue_that_drains_is_not_a_stall(fake_time: FakeTime) -> None:
    # re-checks done one by one ("online": a check row, no counted change) for 40 s; what is
    # due goes down every 10 s, so the wait goes on past `stall_s`, then settles quietly
    polls = [(5, ["rechecks"], 0)] * 40 + [(5, [], 0)]
    script = Script(polls)
    run = run_with(script, stall_s=30.0)

    def busy() -> list[str]:
        run.due_now = (max(0, 4 - script.asked // 10),)
        return script.busy()

    run._busy = busy
    run.settle()
    assert run.stalls == []
    assert sum(fake_time.sleeps) == pytest.approx(42.0)
