"""Review fixtures (helpers in review_world.py)."""

from __future__ import annotations

import pytest
from review_world import KEY, World

from orbweaver.clock import SettableClock
from orbweaver.store import Store
from orbweaver.store.vault import Vault


@pytest.fixture
def world(store: Store, clock: SettableClock) -> World:
    return World(store, clock, Vault(KEY))


@pytest.fixture
def sqlite_world(sqlite_store: Store, clock: SettableClock) -> World:
    return World(sqlite_store, clock, Vault(KEY))
