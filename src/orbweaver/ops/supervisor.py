"""Each role its own process: started, watched, restarted with backoff, stopped in time.

`orbweaver run` hands this a list of role processes. The supervisor

- starts each one (in its own session, so a terminal's Ctrl-C reaches the supervisor only and
  each role gets exactly one SIGTERM; on Linux a role also gets SIGTERM if the supervisor dies);
- when one dies, logs how (exit status or signal) and after how long, and starts it again after
  a wait that doubles from `backoff.base_s` up to `backoff.cap_s` while it keeps dying quickly
  (a role that ran `stable_s` starts from the first wait again);
- after `alert_after` quick deaths in a row logs one `ALERT ... keeps dying` line and marks
  the role failing in its metrics, and goes on restarting it: one broken role never takes
  the others down;
- on stop, sends every role SIGTERM, waits up to `stop_timeout_s` for each to finish or hand
  back its work, then kills what is left (SIGKILL) and says which.

It knows nothing of what the roles do; the role table (`orbweaver.roles`) does. Its pacing
uses the monotonic clock: process supervision is not domain time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from orbweaver.ops.metrics import metric_name

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RoleProcess:
    """How to start one role: its name, its command line and environment, and where its own
    readiness answers (for the supervisor's aggregate `/readyz`)."""

    name: str
    argv: list[str]
    env: dict[str, str] | None = None
    ready_url: str | None = None


@dataclass
class _Child:
    spec: RoleProcess
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    starts: int = 0
    quick_deaths: int = 0
    next_start: float = 0.0
    last_exit: str | None = None
    last_exit_code: int | None = None
    failing: bool = False
    history: list[str] = field(default_factory=list)

    @property
    def restarts(self) -> int:
        return max(0, self.starts - 1)


def describe_exit(code: int) -> str:
    """`exited with status 1`, `killed by SIGKILL`."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the role gets SIGTERM if the supervisor dies (even by SIGKILL)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Supervisor:
    """Runs role processes until `stop` is set (see the module's docstring)."""

    def __init__(
        self,
        roles: list[RoleProcess],
        *,
        backoff_s: float = 1.0,
        backoff_max_s: float = 60.0,
        stable_s: float = 60.0,
        alert_after: int = 5,
        stop_timeout_s: float = 30.0,
        poll_s: float = 0.2,
        logger: logging.Logger = log,
    ) -> None:
        self.children = [_Child(spec) for spec in roles]
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.stable_s = stable_s
        self.alert_after = alert_after
        self.stop_timeout_s = stop_timeout_s
        self.poll_s = poll_s
        self.log = logger
        self._lock = threading.Lock()

    # -- the loop ----------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        names = ", ".join(c.spec.name for c in self.children)
        self.log.info("supervisor: starting %d role(s): %s", len(self.children), names)
        for child in self.children:
            self._start(child)
        while not stop.wait(self.poll_s):
            self._watch(time.monotonic())
        self.stop_all()

    def _watch(self, now: float) -> None:
        for child in self.children:
            proc = child.proc
            if proc is not None:
                code = proc.poll()
                if code is not None:
                    self._died(child, code, now)
                elif child.failing and now - child.started_at >= self.stable_s:
                    child.failing = False
                    self.log.warning(
                        "role %s: running steadily again (%.0f s since its last start)",
                        child.spec.name,
                        now - child.started_at,
                    )
            elif now >= child.next_start:
                self._start(child)

    def _start(self, child: _Child) -> None:
        spec = child.spec
        try:
            proc = subprocess.Popen(
                spec.argv,
                env=spec.env,
                start_new_session=True,
                preexec_fn=_die_with_parent if os.name == "posix" else None,
            )
        except OSError as exc:
            self.log.error("role %s could not start: %s", spec.name, exc)
            with self._lock:
                child.starts += 1
            self._died(child, 127, time.monotonic())
            return
        with self._lock:
            child.proc = proc
            child.started_at = time.monotonic()
            child.starts += 1
        if child.starts == 1:
            self.log.info("role %s started (pid %d)", spec.name, proc.pid)
        else:
            self.log.warning(
                "role %s restarted (pid %d, restart %d)", spec.name, proc.pid, child.restarts
            )

    def _died(self, child: _Child, code: int, now: float) -> None:
        ran = now - child.started_at if child.proc is not None else 0.0
        how = describe_exit(code)
        with self._lock:
            child.proc = None
            child.last_exit = how
            child.last_exit_code = code
            child.quick_deaths = 1 if ran >= self.stable_s else child.quick_deaths + 1
            wait = min(self.backoff_s * 2 ** min(child.quick_deaths - 1, 32), self.backoff_max_s)
            child.next_start = now + wait
            child.history.append(how)
            del child.history[:-20]
        self.log.warning(
            "role %s %s after %.1f s; restarting it in %g s", child.spec.name, how, ran, wait
        )
        if child.quick_deaths >= self.alert_after and not child.failing:
            child.failing = True
            self.log.error(
                "ALERT role %s keeps dying: %d deaths in a row, each within %g s of its start "
                "(last: %s); the other roles go on, and it is restarted every %g s at most",
                child.spec.name,
                child.quick_deaths,
                self.stable_s,
                how,
                self.backoff_max_s,
            )

    def stop_all(self) -> None:
        """SIGTERM to every role, up to `stop_timeout_s` to finish, then SIGKILL."""
        running = [c for c in self.children if c.proc is not None and c.proc.poll() is None]
        self.log.info(
            "supervisor: stopping %d role(s) (SIGTERM; %g s to finish, then SIGKILL)",
            len(running),
            self.stop_timeout_s,
        )
        started = time.monotonic()
        for child in running:
            assert child.proc is not None
            with contextlib.suppress(ProcessLookupError):
                child.proc.send_signal(signal.SIGTERM)
        deadline = started + self.stop_timeout_s
        for child in running:
            assert child.proc is not None
            try:
                code = child.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.proc.kill()
                code = child.proc.wait()
                self.log.error(
                    "role %s did not stop within %g s: killed (SIGKILL)",
                    child.spec.name,
                    self.stop_timeout_s,
                )
            else:
                self.log.info(
                    "role %s stopped (%s) after %.1f s",
                    child.spec.name,
                    describe_exit(code),
                    time.monotonic() - started,
                )
            with self._lock:
                child.last_exit, child.last_exit_code = describe_exit(code), code
                child.proc = None

    # -- what it reports ---------------------------------------------------------------------

    def states(self) -> list[dict[str, Any]]:
        """Each role: up, pid, restarts, failing, how it last ended."""
        with self._lock:
            return [
                {
                    "role": c.spec.name,
                    "up": c.proc is not None and c.proc.poll() is None,
                    "pid": c.proc.pid if c.proc is not None else None,
                    "restarts": c.restarts,
                    "failing": c.failing,
                    "last_exit": c.last_exit,
                    "last_exit_code": c.last_exit_code,
                    "ready_url": c.spec.ready_url,
                }
                for c in self.children
            ]

    def readiness(self, timeout_s: float = 1.0) -> tuple[bool, dict[str, Any]]:
        """Ready when every role runs and answers its own `/readyz` with 200."""
        roles = self.states()
        for role in roles:
            role["ready"] = bool(role["up"]) and _answers(role.pop("ready_url"), timeout_s)
        ok = all(role["ready"] for role in roles)
        return ok, {"role": "supervisor", "status": "ready" if ok else "not ready", "roles": roles}


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _answers(url: str | None, timeout_s: float) -> bool:
    if url is None:
        return True
    try:
        with _NO_PROXY.open(url, timeout=timeout_s) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


class SupervisorCollector(Collector):
    """The supervisor's view as metrics: which role is up, restarts, failing, last exit."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        up = GaugeMetricFamily(
            metric_name("supervisor", "role_up"), "1 while the role's process runs", labels=["role"]
        )
        restarts = CounterMetricFamily(
            metric_name("supervisor", "role_restarts"),
            "Times the role was started again after it died",
            labels=["role"],
        )
        failing = GaugeMetricFamily(
            metric_name("supervisor", "role_failing"),
            "1 while the role keeps dying quickly (an ALERT was logged)",
            labels=["role"],
        )
        last = GaugeMetricFamily(
            metric_name("supervisor", "role_last_exit_code"),
            "How the role last ended: its exit status, or minus the signal that killed it",
            labels=["role"],
        )
        for state in self.supervisor.states():
            role = [state["role"]]
            up.add_metric(role, 1 if state["up"] else 0)
            restarts.add_metric(role, state["restarts"])
            failing.add_metric(role, 1 if state["failing"] else 0)
            if state["last_exit_code"] is not None:
                last.add_metric(role, state["last_exit_code"])
        yield from (up, restarts, failing, last)


def supervisor_respond(supervisor: Supervisor) -> Any:
    """The aggregate view's responder for `HealthServer`: `/readyz` asks every role."""
    from orbweaver.ops.health import Health, respond

    def responder(health: Health, path: str) -> tuple[int, str, bytes]:
        if path == "/readyz":
            ok, doc = supervisor.readiness()
            return (200 if ok else 503), "application/json", json.dumps(doc).encode()
        if path == "/roles":
            body = json.dumps(supervisor.states()).encode()
            return 200, "application/json", body
        return respond(health, path)

    return responder
