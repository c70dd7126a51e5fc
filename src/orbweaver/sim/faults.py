"""Fault switches: the world's own services down for a stretch of *world* time.

A fault campaign (tests/faults, benchmarks/bench_faults.py) turns one of them off, advances the
world's clock through the outage and checks that the product loses nothing. Outages are measured
on the world clock, so "the SMTP sink is down for 6 hours" lasts 6 simulated hours however fast
the driver moves time; a switch ends by itself once the clock passes its end, or by `clear`.

Services and modes:
  smtp      refuse  (greets `421` and hangs up, as an MX that is shutting down)
            timeout (accepts the connection and never speaks: the client's timeout decides)
  webhooks  refuse  (`503`)      timeout (never answers while the outage lasts)
  dns       servfail (SERVFAIL)  timeout (no answer at all)
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from orbweaver.sim.clock import WorldClock, iso

MODES = {
    "smtp": ("refuse", "timeout"),
    "webhooks": ("refuse", "timeout"),
    "dns": ("servfail", "timeout"),
}


@dataclass(frozen=True)
class Outage:
    service: str
    mode: str
    since: datetime
    until: datetime


class Faults:
    """Which services are down, until when (world time); thread-safe, read by the servers on
    every connection or query."""

    def __init__(self, clock: WorldClock) -> None:
        self.clock = clock
        self._outages: dict[str, Outage] = {}
        self._lock = threading.Lock()
        self.history: list[Outage] = []
        self.refused: dict[str, int] = dict.fromkeys(MODES, 0)

    def down(self, service: str, duration: timedelta, mode: str | None = None) -> Outage:
        """Take `service` down from now for `duration` of world time."""
        if service not in MODES:
            raise ValueError(f"unknown service {service!r} (one of {', '.join(MODES)})")
        mode = mode or MODES[service][0]
        if mode not in MODES[service]:
            raise ValueError(f"{service} fails as one of {', '.join(MODES[service])}, not {mode!r}")
        if duration <= timedelta(0):
            raise ValueError("an outage lasts a positive duration")
        now = self.clock.now()
        outage = Outage(service, mode, now, now + duration)
        with self._lock:
            self._outages[service] = outage
            self.history.append(outage)
        return outage

    def clear(self, service: str | None = None) -> None:
        with self._lock:
            if service is None:
                self._outages.clear()
            else:
                self._outages.pop(service, None)

    def mode(self, service: str) -> str | None:
        """The failure mode of `service` now, or None when it is up."""
        with self._lock:
            outage = self._outages.get(service)
        if outage is None or self.clock.now() >= outage.until:
            return None
        return outage.mode

    def failing(self, service: str) -> str | None:
        """`mode`, counting the request it fails (for the campaign's figures)."""
        mode = self.mode(service)
        if mode is not None:
            with self._lock:
                self.refused[service] += 1
        return mode

    def state(self) -> dict[str, Any]:
        now = self.clock.now()
        with self._lock:
            outages = list(self._outages.values())
            refused = dict(self.refused)
            history = len(self.history)
        return {
            "now": iso(now),
            "down": {
                o.service: {"mode": o.mode, "since": iso(o.since), "until": iso(o.until)}
                for o in outages
                if now < o.until
            },
            "refused": refused,
            "outages": history,
        }


def outage_from_json(faults: Faults, body: dict[str, Any]) -> dict[str, Any]:
    """`{"service", "days"|"hours"|"seconds", "mode"?}` takes one down; `{"clear": service or
    true}` brings it (or all) back. Returns the state after."""
    if "clear" in body:
        target = body["clear"]
        faults.clear(None if target is True else str(target))
        return faults.state()
    duration = timedelta(
        days=float(body.get("days", 0)),
        hours=float(body.get("hours", 0)),
        seconds=float(body.get("seconds", 0)),
    )
    mode = body.get("mode")
    faults.down(str(body.get("service", "")), duration, str(mode) if mode else None)
    return faults.state()
