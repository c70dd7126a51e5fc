"""The loop/backoff helper: which faults are waited out, how long, and what is said."""

from __future__ import annotations

import logging
import socket
import threading

import pytest
import sqlalchemy.exc as sa_exc

from orbweaver.supervise import Backoff, is_transient, patiently, run_loop


def test_backoff_doubles_up_to_the_cap() -> None:
    b = Backoff(base_s=0.5, cap_s=10)
    assert [b.delay(n) for n in (1, 2, 3, 5, 6, 1000)] == [0.5, 1, 2, 8, 10, 10]


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (sa_exc.OperationalError("SELECT 1", {}, Exception("server closed the connection")), True),
        (sa_exc.InterfaceError("SELECT 1", {}, Exception("connection already closed")), True),
        (ConnectionRefusedError(111, "Connection refused"), True),
        (socket.gaierror(-3, "Temporary failure in name resolution"), True),
        (TimeoutError("timed out"), True),
        (OSError(113, "No route to host"), True),
        (FileNotFoundError(2, "providers.json"), False),
        (sa_exc.IntegrityError("INSERT", {}, Exception("duplicate key")), False),
        (ValueError("a bug"), False),
    ],
)
def test_what_is_waited_out(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient


class Flaky:
    """Fails with `exc` on the passes listed, and stops the loop after `passes`."""

    def __init__(
        self, failing: set[int], passes: int, stop: threading.Event, exc: Exception
    ) -> None:
        self.calls = 0
        self.failing, self.passes, self.stop, self.exc = failing, passes, stop, exc

    def __call__(self) -> None:
        self.calls += 1
        if self.calls >= self.passes:
            self.stop.set()
        if self.calls in self.failing:
            raise self.exc


def test_one_line_to_back_off_and_one_to_resume_per_outage(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="orbweaver.supervise")
    stop = threading.Event()
    step = Flaky({2, 3, 4, 5, 8, 9}, 11, stop, ConnectionRefusedError(111, "refused"))
    run_loop(step, name="role", every_s=0, backoff=Backoff(0.001, 0.002), stop=stop)
    assert step.calls == 11
    said = [r.getMessage() for r in caplog.records]
    assert sum("role: ConnectionRefusedError" in m and "backing off" in m for m in said) == 2
    resumed = [m.split(" over ")[0] for m in said if "resumed" in m]
    assert resumed == [
        "role: resumed after 4 failed attempt(s)",
        "role: resumed after 2 failed attempt(s)",
    ]


def test_anything_else_ends_the_loop() -> None:
    stop = threading.Event()
    step = Flaky({2}, 10, stop, KeyError("a bug"))
    with pytest.raises(KeyError):
        run_loop(step, name="role", every_s=0, stop=stop)
    assert step.calls == 2


def test_patiently_returns_once_the_call_succeeds() -> None:
    calls = []

    def call() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise TimeoutError("slow")
        return "store"

    assert patiently(call, name="opening", backoff=Backoff(0.001, 0.001)) == "store"
    assert len(calls) == 3
    with pytest.raises(ValueError):
        patiently(lambda: (_ for _ in ()).throw(ValueError("bad url")), name="opening")
