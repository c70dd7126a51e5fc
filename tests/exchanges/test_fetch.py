"""Fetching an NCMEC-shaped exchange: incremental from the checkpoint, deletions, faults."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from orbweaver.exchanges import fetch
from orbweaver.store.models import Bank, BankEntry, Exchange, ExchangeEntry

from .helpers import START, client, config, md5, pdq, share


def _live(store, signal_type: str = "pdq") -> set[str]:  # type: ignore[no-untyped-def]
    with store.session() as s:
        return set(
            s.scalars(
                sa.select(BankEntry.signal).where(
                    BankEntry.signal_type == signal_type, BankEntry.removed_at.is_(None)
                )
            )
        )


def test_fetch_stores_every_entry_with_source_member_and_tags(store, later, service) -> None:  # type: ignore[no-untyped-def]
    svc, server = service
    share(svc, 25)
    cfg, _ = config(server)
    report = fetch(store, later, "ncmec", cfg, client(server))
    assert report.error == ""
    assert report.complete and report.pages == 3  # 10 + 10 + 5
    assert report.added == 50  # md5 and pdq of each
    assert _live(store) == {pdq(i) for i in range(1, 26)}
    with store.session() as s:
        entry = s.scalar(sa.select(BankEntry).where(BankEntry.signal == pdq(7)))
        assert entry is not None
        assert entry.source == "ncmec"
        assert entry.member == "Sim Hotline"
        assert entry.tags == ["A1", "image"]
        assert entry.category == "csam_prepubescent"
        bank = s.get(Bank, entry.bank_id)
        assert bank is not None and bank.name == "ncmec"
        row = s.scalar(sa.select(Exchange))
        assert row is not None and row.checkpoint == {"from": int(later.now().timestamp()) - 5}


def test_second_fetch_asks_only_for_what_changed(store, later, service) -> None:  # type: ignore[no-untyped-def]
    svc, server = service
    share(svc, 12)
    cfg, _ = config(server)
    fetch(store, later, "ncmec", cfg, client(server))
    served = svc.requests
    later.advance(timedelta(hours=1))
    share(svc, 3, first=13, at=later.now() - timedelta(minutes=30))
    report = fetch(store, later, "ncmec", cfg, client(server))
    assert report.entries == 3  # only the new ones came
    assert report.added == 6
    assert svc.requests - served <= 2  # members + one page
    assert len(_live(store)) == 15


def test_a_killed_fetch_resumes_after_the_last_stored_page(store, later, service) -> None:  # type: ignore[no-untyped-def]
    svc, server = service
    share(svc, 35)
    cfg, _ = config(server)
    first = fetch(store, later, "ncmec", cfg, client(server), max_pages=2)  # killed after 2
    assert first.pages == 2 and not first.complete
    with store.session() as s:
        row = s.scalar(sa.select(Exchange))
        assert row is not None and "next" in row.checkpoint
    assert len(_live(store)) == 20
    rest = fetch(store, later, "ncmec", cfg, client(server))
    assert rest.complete and rest.entries == 15  # pages 3 and 4, not 1 and 2 again
    assert _live(store) == {pdq(i) for i in range(1, 36)}


def test_deletions_withdraw_what_the_entry_gave(store, later, service) -> None:  # type: ignore[no-untyped-def]
    svc, server = service
    share(svc, 5)
    # a second member shares e3's PDQ too: withdrawing e3 must keep it
    svc.add("x1", {"pdq": pdq(3)}, at=START, member_id=2)
    cfg, _ = config(server)
    fetch(store, later, "ncmec", cfg, client(server))
    later.advance(timedelta(hours=1))
    svc.delete("e2", at=later.now() - timedelta(minutes=10))
    svc.delete("e3", at=later.now() - timedelta(minutes=10))
    report = fetch(store, later, "ncmec", cfg, client(server))
    assert report.removed == 3  # e2's md5 and pdq, e3's md5; e3's pdq is x1's too
    assert _live(store) == {pdq(i) for i in (1, 3, 4, 5)}
    assert _live(store, "md5") == {md5(i) for i in (1, 4, 5)}
    with store.session() as s:
        # withdrawn, not deleted: kept for the detections that name it
        gone = s.scalar(sa.select(BankEntry).where(BankEntry.signal == pdq(2)))
        assert gone is not None and gone.removed_at is not None
        assert not s.scalars(
            sa.select(ExchangeEntry).where(ExchangeEntry.external_id == "e2")
        ).all()
    # a matcher loads only what is not withdrawn
    from orbweaver.banks import Matcher

    matcher = Matcher(store)
    matcher.refresh()
    assert matcher.size == len(_live(store)) + len(_live(store, "md5")) == 7
    # shared again: back
    later.advance(timedelta(hours=1))
    svc.add("e2", {"pdq": pdq(2)}, at=later.now() - timedelta(minutes=10))
    fetch(store, later, "ncmec", cfg, client(server))
    assert pdq(2) in _live(store)


def test_a_malformed_page_stops_the_fetch_and_keeps_the_pages_before(store, later, service) -> None:  # type: ignore[no-untyped-def]
    svc, server = service
    share(svc, 30)
    cfg, _ = config(server)
    c = client(server)
    pages = iter(c.pages({}, later.now()))
    next(pages)  # the first page is served whole...

    # ...through `fetch`: page 1 stored, page 2 cut in the middle
    class CutAfterFirst:
        def __init__(self) -> None:
            self.inner = client(server)

        def pages(self, checkpoint, now):  # type: ignore[no-untyped-def]
            for i, page in enumerate(self.inner.pages(checkpoint, now)):
                yield page
                if i == 0:
                    svc.corrupt_next(1)

        def send_vote(self, vote):  # type: ignore[no-untyped-def]
            return False

    report = fetch(store, later, "ncmec", cfg, CutAfterFirst())
    assert report.pages == 1 and not report.complete
    assert "not XML" in report.error
    assert len(_live(store)) == 10  # the first page is kept
    with store.session() as s:
        row = s.scalar(sa.select(Exchange))
        assert row is not None and "not XML" in row.error and "next" in row.checkpoint
    # the service is well again: the fetch goes on from page 2
    report = fetch(store, later, "ncmec", cfg, client(server))
    assert report.error == "" and report.complete and report.entries == 20
    assert len(_live(store)) == 30


def test_wrong_credentials_are_an_error_without_the_password(store, later, service) -> None:  # type: ignore[no-untyped-def]
    from orbweaver.exchanges import ExchangeConfig, ExchangeSettings, build_client

    svc, server = service
    share(svc, 3)
    cfg = ExchangeConfig(kind="ncmec", bank="ncmec", url=server.url)
    settings = ExchangeSettings(exchange_credentials={"ncmec": "orbweaver:not-the-password-42"})
    report = fetch(store, later, "ncmec", cfg, build_client("ncmec", cfg, settings))
    assert "401" in report.error
    assert "not-the-password-42" not in report.error
    assert _live(store) == set()


def test_window_times_are_utc_whatever_the_local_zone(store, later, service, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """python-threatexchange formats `from`/`to` in local time with a `Z`: a machine west of
    Greenwich would ask for a window ending hours ago and miss the last hours' entries."""
    import time as time_mod

    svc, server = service
    svc.add("recent", {"pdq": pdq(77)}, at=later.now() - timedelta(hours=1))
    monkeypatch.setenv("TZ", "Etc/GMT+5")
    time_mod.tzset()
    try:
        cfg, _ = config(server)
        report = fetch(store, later, "ncmec", cfg, client(server))
    finally:
        monkeypatch.delenv("TZ")
        time_mod.tzset()
    assert report.error == "" and report.entries == 1
    assert _live(store) == {pdq(77)}


def test_a_service_that_stays_down_is_an_error_and_loses_nothing(store, later, service) -> None:  # type: ignore[no-untyped-def]
    svc, server = service
    share(svc, 15)
    cfg, _ = config(server)

    class DownAfterFirst:
        def __init__(self) -> None:
            self.inner = client(server)

        def pages(self, checkpoint, now):  # type: ignore[no-untyped-def]
            for i, page in enumerate(self.inner.pages(checkpoint, now)):
                yield page
                if i == 0:
                    svc.fail_next(100)  # past the client's retries

        def send_vote(self, vote):  # type: ignore[no-untyped-def]
            return False

    report = fetch(store, later, "ncmec", cfg, DownAfterFirst())
    assert "did not answer" in report.error and "503" in report.error
    assert report.pages == 1 and len(_live(store)) == 10
    svc.fail_next(0)
    report = fetch(store, later, "ncmec", cfg, client(server))
    assert report.error == "" and len(_live(store)) == 15
