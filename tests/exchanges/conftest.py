"""A simulated NCMEC-shaped hash-sharing service on loopback, and an exchange fed by it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from orbweaver.clock import SettableClock
from orbweaver.sim.hashsharing import HashSharing, Server

from .helpers import START


@pytest.fixture
def service() -> Iterator[tuple[HashSharing, Server]]:
    svc = HashSharing(page_size=10)
    with Server(svc) as server:
        yield svc, server


@pytest.fixture
def later(clock: SettableClock) -> SettableClock:
    clock.set(START + timedelta(days=1))
    return clock
