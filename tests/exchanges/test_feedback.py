"""Analysts confirm or dispute entries from an exchange; the votes go back to it."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from orbweaver.banks import EntryRow, add_entries, create_bank
from orbweaver.exchanges import ExchangeError, fetch, send_votes, vote
from orbweaver.store import EventKind
from orbweaver.store.models import BankEntry, Event, ExchangeVote

from .helpers import client, config, pdq, share


def _entry(store, signal: str) -> int:  # type: ignore[no-untyped-def]
    with store.session() as s:
        entry_id = s.scalar(sa.select(BankEntry.id).where(BankEntry.signal == signal))
        assert entry_id is not None
        return int(entry_id)


def test_votes_are_stored_audited_and_sent_to_the_exchange(store, later, service) -> None:  # type: ignore[no-untyped-def]
    svc, server = service
    share(svc, 3)
    cfg, settings = config(server)
    c = client(server)
    fetch(store, later, "ncmec", cfg, c)
    up = vote(
        store, later, _entry(store, pdq(1)), up=True, reason="", actor="ana", settings=settings
    )
    down = vote(
        store,
        later,
        _entry(store, pdq(2)),
        up=False,
        reason="Not CSAM",
        actor="bob",
        settings=settings,
    )
    assert up.status == down.status == "pending"
    assert send_votes(store, later, {"ncmec": c}) == {
        "sent": 2,
        "local": 0,
        "failed": 0,
        "retry": 0,
    }
    sent = {(v.entry_id, v.fingerprint_type, v.affirmative, v.reason_guids) for v in svc.votes}
    assert sent == {
        ("e1", "PDQ", True, ()),
        ("e2", "PDQ", False, ("c3a1f4e2-0000-4000-8000-000000000001",)),
    }
    with store.session() as s:
        statuses = set(s.scalars(sa.select(ExchangeVote.status)))
        kinds = [e.kind for e in s.scalars(sa.select(Event).order_by(Event.id))]
    assert statuses == {"sent"}
    assert kinds.count(EventKind.EXCHANGE_VOTED) == 2
    assert kinds.count(EventKind.EXCHANGE_VOTE_SENT) == 2
    # sent once: nothing pending any more
    assert send_votes(store, later, {"ncmec": c})["sent"] == 0 and len(svc.votes) == 2


def test_a_reason_the_exchange_does_not_take_fails_with_its_reasons(store, later, service) -> None:  # type: ignore[no-untyped-def]
    svc, server = service
    share(svc, 1)
    cfg, settings = config(server)
    c = client(server)
    fetch(store, later, "ncmec", cfg, c)
    vote(
        store, later, _entry(store, pdq(1)), up=False, reason="meh", actor="ana", settings=settings
    )
    assert send_votes(store, later, {"ncmec": c})["failed"] == 1
    with store.session() as s:
        row = s.scalar(sa.select(ExchangeVote))
        assert row is not None and row.status == "failed" and "Not CSAM" in row.error
    assert svc.votes == []


def test_a_downvote_needs_a_reason_and_our_own_entries_stay_local(store, later, service) -> None:  # type: ignore[no-untyped-def]
    _, server = service
    _, settings = config(server)
    bank = create_bank(store, later, "own")
    with store.session() as s:
        add_entries(s, bank.id, [EntryRow("pdq", pdq(9), "csam_prepubescent", "review")], later)
    entry = _entry(store, pdq(9))
    with pytest.raises(ExchangeError, match="reason"):
        vote(store, later, entry, up=False, reason=" ", actor="ana", settings=settings)
    assert (
        vote(store, later, entry, up=True, reason="", actor="ana", settings=settings).status
        == "local"
    )
