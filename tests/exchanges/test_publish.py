"""Our own verdicts published to an exchange that takes uploads (the NCMEC-shaped service)."""

from __future__ import annotations

import sqlalchemy as sa

from orbweaver.banks import EntryRow, add_entries, create_bank
from orbweaver.categories import CSAM_POSTPUBESCENT, CSAM_PREPUBESCENT
from orbweaver.exchanges import exchanges_pass, fetch, publish
from orbweaver.exchanges.base import Submission
from orbweaver.store import EventKind
from orbweaver.store.models import BankEntry, Event, ExchangeSubmission, Media

from .helpers import client, config, md5, pdq, share


def _sha(i: int) -> str:
    return f"{i:064x}"


def _verdict(store, clock, i: int, category: str = CSAM_PREPUBESCENT, source: str = "") -> None:  # type: ignore[no-untyped-def]
    """What a review verdict leaves: the picture's media row, its SHA-256 and PDQ entries in
    the hotline's own bank with the verdict as their source."""
    with store.session() as s:
        s.add(
            Media(
                sha256=_sha(i),
                sha1=f"{i:040x}",
                md5=md5(i),
                pdq=pdq(i),
                size_bytes=1,
                first_seen_at=clock.now(),
            )
        )
        bank_id = s.scalar(sa.text("SELECT id FROM bank WHERE name = 'hotline'"))
        source = source or f"review:item:{i}"
        add_entries(
            s,
            int(bank_id),
            [
                EntryRow("sha256", _sha(i), category, source),
                EntryRow("pdq", pdq(i), category, source),
            ],
            clock,
        )


def test_verdicts_are_uploaded_once_with_their_hashes_and_class(store, later, service) -> None:  # type: ignore[no-untyped-def]
    svc, server = service
    svc.now = lambda: later.now().timestamp() - 60
    create_bank(store, later, "hotline")
    _verdict(store, later, 1)
    _verdict(store, later, 2, CSAM_POSTPUBESCENT)
    _verdict(store, later, 3, source="import:list.csv")  # not a verdict: never published
    cfg, settings = config(server, publish_banks=["hotline"])
    c = client(server)
    assert publish(store, later, {"ncmec": c}, settings) == {
        "sent": 2,
        "failed": 0,
        "retry": 0,
        "queued": 2,
    }
    assert len(svc.uploads) == 2
    made = [svc.entries[e] for e in svc.uploads]
    assert [(e.member_id, e.classification) for e in made] == [(svc.me, "A1"), (svc.me, "B1")]
    assert made[0].fingerprints == {
        "md5": md5(1),
        "pdq": pdq(1),
        "sha1": f"{1:040x}",
        "sha256": _sha(1),
    }
    with store.session() as s:
        rows = s.scalars(sa.select(ExchangeSubmission).order_by(ExchangeSubmission.id)).all()
        assert [(r.status, r.external_id) for r in rows] == [
            ("sent", svc.uploads[0]),
            ("sent", svc.uploads[1]),
        ]
        kinds = [e.kind for e in s.scalars(sa.select(Event))]
    assert kinds.count(EventKind.EXCHANGE_PUBLISHED) == 2
    # idempotent: a second pass queues and sends nothing
    assert publish(store, later, {"ncmec": c}, settings)["queued"] == 0
    assert len(svc.uploads) == 2
    # a new verdict later is published on the next pass, alone
    _verdict(store, later, 4)
    assert publish(store, later, {"ncmec": c}, settings)["sent"] == 1
    assert len(svc.uploads) == 3
    # the exchange shares our uploads with everyone: a fetch brings them into its bank
    report = fetch(store, later, "ncmec", cfg, c)
    assert report.error == "" and report.entries == 3
    with store.session() as s:
        fetched = set(s.scalars(sa.select(BankEntry.signal).where(BankEntry.source == "ncmec")))
    assert _sha(1) in fetched and pdq(4) in fetched


def test_an_upload_sent_again_makes_no_second_entry(service) -> None:  # type: ignore[no-untyped-def]
    svc, server = service
    c = client(server)
    first = c.submit(Submission({"md5": md5(7), "pdq": pdq(7)}, "A1"))
    again = c.submit(Submission({"md5": md5(7), "pdq": pdq(7)}, "A1"))
    assert first == again and len(svc.entries) == 1


def test_a_service_down_is_retried_and_a_disabled_entry_not_published(
    store, later, service
) -> None:  # type: ignore[no-untyped-def]
    svc, server = service
    create_bank(store, later, "hotline")
    _verdict(store, later, 1)
    _verdict(store, later, 2)
    with store.session() as s:
        s.execute(
            sa.update(BankEntry)
            .where(BankEntry.signal == _sha(2))
            .values(disabled_at=later.now(), disabled_reason="test")
        )
    _, settings = config(server, publish_banks=["hotline"])
    bad = client(server)
    bad.api.password = "wrong"  # type: ignore[attr-defined]
    counts = publish(store, later, {"ncmec": bad}, settings)
    assert counts["queued"] == 1 and counts["sent"] == 0 and svc.uploads == []
    with store.session() as s:
        row = s.scalar(sa.select(ExchangeSubmission))
        assert row is not None and row.status in ("pending", "failed") and row.error
    # an exchange without publish_banks is never written to
    _, plain = config(server)
    assert publish(store, later, {"ncmec": client(server)}, plain)["queued"] == 0


def test_the_role_publishes_after_fetching(store, later, service) -> None:  # type: ignore[no-untyped-def]
    svc, server = service
    share(svc, 2)
    create_bank(store, later, "hotline")
    _verdict(store, later, 9)
    _, settings = config(server, publish_banks=["hotline"])
    reports = exchanges_pass(store, later, settings)
    assert [r.error for r in reports] == [""]
    assert len(svc.uploads) == 1
    assert svc.entries[svc.uploads[0]].fingerprints["sha256"] == _sha(9)
