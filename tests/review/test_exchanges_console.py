"""Feedback in the console (issue 17): an analyst confirms or disputes an entry from an
exchange; CSRF-checked, recorded as an event and in the audit log, queued for its exchange."""

from __future__ import annotations

import sqlalchemy as sa
from review_world import World
from web_helpers import browser, console_app

from orbweaver.banks import EntryRow, add_entries, create_bank
from orbweaver.store.models import AuditEntry, BankEntry, Event, ExchangeVote


def test_an_analyst_votes_on_an_entry(sqlite_world: World) -> None:
    store, clock = sqlite_world.store, sqlite_world.clock
    bank = create_bank(store, clock, "partner")
    with store.session() as s:
        add_entries(
            s,
            bank.id,
            [EntryRow("md5", "0" * 31 + "7", "csam_prepubescent", "partner-file")],
            clock,
        )
        entry = s.scalar(sa.select(BankEntry.id))
    sqlite_world.user("ana")
    app = console_app(sqlite_world)
    analyst, csrf = browser(app, "ana")
    assert "Exchanges" in analyst.get("/console/exchanges").text
    form = {"entry_id": str(entry), "verdict": "down", "reason": "", "csrf_token": csrf}
    assert (
        analyst.post("/console/exchanges/vote", data={**form, "csrf_token": "x"}).status_code == 403
    )
    refused = analyst.post("/console/exchanges/vote", data=form)
    assert refused.status_code == 400 and "needs a reason" in refused.text
    done = analyst.post("/console/exchanges/vote", data={**form, "reason": "a benign logo"})
    assert done.status_code == 303
    page = analyst.get("/console/exchanges")
    assert "a benign logo" in page.text and "console:ana" in page.text
    with store.session() as s:
        row = s.scalars(sa.select(ExchangeVote)).one()
        assert (row.vote, row.status, row.actor) == ("down", "local", "console:ana")
        assert s.scalars(sa.select(Event.kind).where(Event.kind == "exchange.voted")).all()
        audit = s.scalars(sa.select(AuditEntry).where(AuditEntry.action == "exchange.vote")).one()
        assert audit.actor == "ana" and audit.detail["reason"] == "a benign logo"
