"""Bulk inserts below the ORM (COPY and unnest on PostgreSQL, driver statements on SQLite):
what they write reads back through the ORM as if the ORM had written it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import cast

import sqlalchemy as sa

from orbweaver.store import driver_value, insert_returning, insert_rows, one_of
from orbweaver.store.models import Bank, BankEntry, Exchange, ExchangeEntry

WHEN = datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)
NAIVE = WHEN.replace(tzinfo=None)  # the store reads back naive UTC


def test_rows_inserted_in_bulk_read_back_through_the_orm(store) -> None:  # type: ignore[no-untyped-def]
    with store.session() as s:
        bank = Bank(name="b", created_at=WHEN)
        s.add(bank)
        s.flush()
        exchange = Exchange(
            name="x", kind="ncmec", bank_id=bank.id, checkpoint={}, error="", created_at=WHEN
        )
        s.add(exchange)
        s.flush()
        entries = cast(sa.Table, BankEntry.__table__)
        at = driver_value(s, entries.c.added_at, WHEN)
        rows = [
            (bank.id, "pdq", f"{i:064x}", "csam_prepubescent", "x", "m", json.dumps(["A1"]), at)
            for i in range(1, 2501)
        ]
        returned = insert_returning(
            s,
            entries,
            (
                "bank_id",
                "signal_type",
                "signal",
                "category",
                "source",
                "member",
                "tags",
                "added_at",
            ),
            rows,
            ("id", "signal"),
        )
        assert len(returned) == 2500 and len({i for i, _ in returned}) == 2500
        ids = {signal: i for i, signal in returned}
        links = cast(sa.Table, ExchangeEntry.__table__)
        updated = driver_value(s, links.c.updated_at, WHEN)
        insert_rows(
            s,
            links,
            (
                "exchange_id",
                "external_id",
                "signal_type",
                "bank_entry_id",
                "member_id",
                "fingerprint_type",
                "updated_at",
            ),
            [
                (exchange.id, f"e{n}", "pdq", i, "1", "PDQ", updated)
                for n, i in enumerate(ids.values())
            ],
        )
    with store.session() as s:
        entry = s.scalars(sa.select(BankEntry).where(BankEntry.signal == f"{7:064x}")).one()
        assert entry.id == ids[f"{7:064x}"]
        assert entry.tags == ["A1"] and entry.added_at == NAIVE and entry.removed_at is None
        link = s.scalars(sa.select(ExchangeEntry).where(ExchangeEntry.external_id == "e3")).one()
        assert link.updated_at == NAIVE and link.fingerprint_type == "PDQ"
        wanted = [f"{i:064x}" for i in (1, 2, 9999)]
        found = set(
            s.scalars(sa.select(BankEntry.signal).where(one_of(s, BankEntry.signal, wanted)))
        )
        assert found == set(wanted[:2])


def test_a_signal_another_bank_holds_is_added_to_this_one(store, clock) -> None:  # type: ignore[no-untyped-def]
    """The batch lookup names no bank in SQL (SQLite would read the whole bank through its
    `bank_id` index): the bank is checked on the rows it returns."""
    from orbweaver.banks import EntryRow, add_entries, add_entries_ids, create_bank

    one, two = create_bank(store, clock, "one"), create_bank(store, clock, "two")
    row = EntryRow("pdq", f"{5:064x}", "csam_prepubescent", "x")
    with store.session() as s:
        assert add_entries_ids(s, one.id, [row], clock)[0] == 1
        added, ids = add_entries_ids(s, two.id, [row], clock)
        assert added == 1
        again, same = add_entries_ids(s, two.id, [row], clock)
        assert again == 0 and same == ids
        assert add_entries(
            s, one.id, [row, EntryRow("pdq", f"{6:064x}", "csam_prepubescent", "x")], clock
        ) == (1, 1)
        banks = (
            s.execute(sa.select(BankEntry.bank_id).where(BankEntry.signal == row.signal))
            .scalars()
            .all()
        )
    assert sorted(banks) == sorted([one.id, two.id])
