"""Retention: evidence older than its kind's period is deleted (hash and size kept) unless a
hold covers its case; old messages' contacts are anonymised; figures are untouched."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import select

from orbweaver.clock import SettableClock
from orbweaver.evidence import EvidenceSettings, prune
from orbweaver.notices.holds import add_hold, release_hold
from orbweaver.store import Store, store_now
from orbweaver.store.models import Event, EvidenceRecord, Outbox
from takedown.helpers import detect, provider

SETTINGS = EvidenceSettings(
    evidence_retention_days_page=30, evidence_retention_days_media=90, contact_retention_days=60
)


def _evidence(store: Store, clock: SettableClock, url: str) -> int:
    now = store_now(clock)
    with store.session() as s:
        d = detect(s, now, url)
        for kind in ("page", "media"):
            blob = f"{kind}:{url}".encode()
            s.add(
                EvidenceRecord(
                    sighting_id=d.sighting_id,
                    kind=kind,
                    url=url,
                    captured_at=now,
                    warc=blob,
                    sha256=hashlib.sha256(blob).hexdigest(),
                    size_bytes=len(blob),
                )
            )
        return d.sighting_id


def _kept(store: Store) -> dict[tuple[int, str], bool]:
    with store.session() as s:
        return {
            (r.sighting_id, r.kind): r.warc is not None for r in s.scalars(select(EvidenceRecord))
        }


def test_retention_per_kind_and_holds(store: Store, clock: SettableClock) -> None:
    free = _evidence(store, clock, "http://a.example/1.jpg")
    held = _evidence(store, clock, "http://b.example/2.jpg")
    with store.session() as s:
        hold = add_hold(s, clock, "host", "b.example", reason="legal", actor="t", legal=True)
    clock.advance(timedelta(days=31))
    with store.session() as s:
        stats = prune(s, clock, SETTINGS, actor="t")
    assert (stats.pruned, stats.kept_on_hold) == (1, 1)  # pages only: media keep 90 days
    assert _kept(store) == {
        (free, "page"): False,
        (free, "media"): True,
        (held, "page"): True,
        (held, "media"): True,
    }
    clock.advance(timedelta(days=60))
    with store.session() as s:
        release_hold(s, clock, hold.id, actor="t")
        prune(s, clock, SETTINGS, actor="t")
    assert not any(_kept(store).values())
    with store.session() as s:
        rows = s.scalars(select(EvidenceRecord)).all()
        assert all(r.pruned_at is not None and len(r.sha256) == 64 for r in rows)
        events = s.scalars(select(Event).where(Event.kind == "evidence.pruned")).all()
        assert len(events) == 2 and events[0].actor == "t"


def test_contacts_are_anonymised_after_retention(store: Store, clock: SettableClock) -> None:
    now = store_now(clock)
    with store.session() as s:
        p = provider(s, now, "Host", email="jane.doe@host.example")
        for i, status in enumerate(("sent", "pending")):
            s.add(
                Outbox(
                    key=f"k{i}",
                    provider_id=p.id,
                    kind="notice",
                    channel="smtp",
                    recipient="jane.doe@host.example",
                    message_id=f"<{i}@x>",
                    subject="s",
                    body="Dear Jane",
                    xarf={},
                    status=status,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
    clock.advance(timedelta(days=61))
    with store.session() as s:
        assert prune(s, clock, SETTINGS, actor="t").contacts_anonymised == 1
    with store.session() as s:
        rows = {r.status: r for r in s.scalars(select(Outbox))}
        assert rows["sent"].recipient == "anonymised" and rows["sent"].body == ""
        assert rows["pending"].recipient == "jane.doe@host.example"  # not done with: kept
