"""A small world shared by the network tests of this folder (started once per module)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orbweaver.sim import World
from orbweaver.sim.scenario import SCENARIO_DIR

SCENARIOS = SCENARIO_DIR


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with World.start(SCENARIOS / "small.toml", scale=1.0, seed=3) as w:
        yield w
