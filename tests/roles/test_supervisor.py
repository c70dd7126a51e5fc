"""The supervisor of `orbweaver run` on stand-in roles (small Python processes): a role that
dies is restarted with backoff and its exit logged; one that keeps dying raises one ALERT and
does not take the others down; a stop is SIGTERM, then SIGKILL for what outlives the timeout."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from orbweaver.ops import RoleProcess, Supervisor, SupervisorCollector, describe_exit

STEADY = "import time\nwhile True: time.sleep(0.1)"
GRACEFUL = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
    "while True: time.sleep(0.1)"
)
STUBBORN = (
    "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "while True: time.sleep(0.1)"
)


def role(name: str, code: str) -> RoleProcess:
    return RoleProcess(name, [sys.executable, "-c", code])


def wait_for(what: str, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@contextmanager
def running(supervisor: Supervisor) -> Iterator[threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=supervisor.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(60)
        assert not thread.is_alive()


def state(supervisor: Supervisor, name: str) -> dict[str, object]:
    return next(s for s in supervisor.states() if s["role"] == name)


def restarts(supervisor: Supervisor, name: str) -> int:
    value = state(supervisor, name)["restarts"]
    assert isinstance(value, int)
    return value


def messages(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


def test_exit_descriptions() -> None:
    assert describe_exit(0) == "exited with status 0"
    assert describe_exit(3) == "exited with status 3"
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL"


def test_a_role_that_keeps_dying_is_restarted_with_backoff_and_alerts_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="orbweaver.ops.supervisor")
    sup = Supervisor(
        [role("broken", "import sys; sys.exit(3)"), role("steady", STEADY)],
        backoff_s=0.05,
        backoff_max_s=0.4,
        stable_s=30,
        alert_after=3,
        stop_timeout_s=10,
        poll_s=0.02,
    )
    with running(sup):
        wait_for("five restarts", lambda: restarts(sup, "broken") >= 5)
        steady = state(sup, "steady")
        assert steady["up"] is True and steady["restarts"] == 0
        assert state(sup, "broken")["failing"] is True
        metrics = {
            (s.name, s.labels.get("role")): s.value
            for m in SupervisorCollector(sup).collect()
            for s in m.samples
        }
        assert metrics[("orbweaver_supervisor_role_failing", "broken")] == 1
        assert metrics[("orbweaver_supervisor_role_up", "steady")] == 1
        assert metrics[("orbweaver_supervisor_role_last_exit_code", "broken")] == 3
        assert metrics[("orbweaver_supervisor_role_restarts_total", "broken")] >= 5
    deaths = messages(caplog, "role broken exited with status 3")
    assert len(deaths) >= 5
    # the waits double up to the cap: 0.05, 0.1, 0.2, 0.4, 0.4
    waits = [float(m.rsplit("in ", 1)[1].split()[0]) for m in deaths[:5]]
    assert waits == [0.05, 0.1, 0.2, 0.4, 0.4]
    alerts = messages(caplog, "ALERT role broken keeps dying")
    assert len(alerts) == 1 and "3 deaths in a row" in alerts[0]
    assert not messages(caplog, "role steady exited")


def test_a_killed_role_is_restarted_and_its_death_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="orbweaver.ops.supervisor")
    sup = Supervisor([role("worker", STEADY)], backoff_s=0.05, poll_s=0.02, stop_timeout_s=10)
    with running(sup):
        wait_for("the first start", lambda: state(sup, "worker")["pid"] is not None)
        first = state(sup, "worker")["pid"]
        assert isinstance(first, int)
        os.kill(first, signal.SIGKILL)
        wait_for(
            "a new process",
            lambda: state(sup, "worker")["pid"] not in (None, first),
        )
        assert state(sup, "worker")["restarts"] == 1
    assert messages(caplog, "role worker killed by SIGKILL after")
    assert messages(caplog, "role worker restarted (pid")


def test_a_stop_is_sigterm_then_sigkill_after_the_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="orbweaver.ops.supervisor")
    sup = Supervisor(
        [role("graceful", GRACEFUL), role("stubborn", STUBBORN)],
        poll_s=0.02,
        stop_timeout_s=1.5,
    )
    with running(sup) as stop:
        wait_for("both up", lambda: all(s["up"] for s in sup.states()))
        time.sleep(0.5)  # the handlers are installed
        started = time.monotonic()
        stop.set()
    took = time.monotonic() - started
    assert 1.5 <= took < 10
    assert messages(caplog, "role graceful stopped (exited with status 0)")
    assert messages(caplog, "role stubborn did not stop within 1.5 s: killed (SIGKILL)")
    assert state(sup, "stubborn")["last_exit"] == "killed by SIGKILL"
    assert not any(s["up"] for s in sup.states())
