"""The crawl's writer applies flood quarantine (issue 17): a batch that takes an entry's matches
in the hour to the policy's minimum (50, no baseline) quarantines it and holds its detections;
one fewer does not; a match of an already quarantined entry is written held."""

from __future__ import annotations

from dataclasses import replace

import pytest
import sqlalchemy as sa
from test_crawl_compact import entry, item, writer

from orbweaver.clock import SettableClock
from orbweaver.store import Store
from orbweaver.store.models import BankEntry, Detection


@pytest.mark.parametrize(("n", "flood"), [(49, False), (50, True)])
def test_a_flood_in_one_batch_quarantines_the_entry(
    store: Store, clock: SettableClock, n: int, flood: bool
) -> None:
    match = entry(store, clock.now())
    writer(store, clock).write([item(f"h{i}.test", f"m{i}", match) for i in range(n)])
    with store.session() as s:
        held = s.scalars(sa.select(Detection.held)).all()
        quarantined = s.scalar(sa.select(BankEntry.quarantined_at))
    assert len(held) == n
    assert all(held) is flood and any(held) is flood
    assert (quarantined is not None) is flood


def test_a_match_of_a_quarantined_entry_is_written_held(store: Store, clock: SettableClock) -> None:
    match = replace(entry(store, clock.now()), held=True)
    writer(store, clock).write([item("h.test", "one", match)])
    with store.session() as s:
        assert s.scalars(sa.select(Detection.held)).all() == [True]
