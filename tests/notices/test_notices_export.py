"""`orbweaver notices export`: one file per message, digests included, and never an overwrite
(issue 14, item 11: a provider's daily digests overwrote each other)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from orbweaver.attribution import ChainLink
from orbweaver.cli import app
from orbweaver.clock import SettableClock
from orbweaver.notices import (
    NoticeSettings,
    SmtpWebhookTransport,
    build_digests,
    deliver_due,
    make_on_sent,
    plan_notices,
    schedule_rounds,
)
from orbweaver.store import Store
from orbweaver.store.models import Outbox
from takedown.helpers import FixedAttributor, SmtpSink, detect, provider


def _two_days_of_digests(store: Store, clock: SettableClock) -> None:
    now = clock.now().replace(tzinfo=None)
    with store.session() as s:
        p = provider(s, now, "BatchHost", email="abuse@batch.test")
        p.digest = True
        detect(s, now, "http://batch.test/a.jpg")
        chain = [ChainLink("hosting_provider", p.id, p.name, p.abuse_email)]
    att = FixedAttributor({"batch.test": chain}, {"batch.test": p.id})
    with SmtpSink() as sink:
        settings = NoticeSettings(
            smtp_host="127.0.0.1", smtp_port=sink.port, notice_domain="hotline.test"
        )
        with store.session() as s:
            plan_notices(s, clock, att, settings)
        with store.session() as s:
            assert build_digests(s, clock, settings) == 1
        with SmtpWebhookTransport(settings) as t:
            assert deliver_due(store, clock, t, settings, on_sent=make_on_sent(settings)).sent
    clock.set(clock.now().replace(hour=0) + timedelta(days=1, minutes=1))
    with store.session() as s:
        schedule_rounds(s, clock, settings)
    with store.session() as s:
        assert build_digests(s, clock, settings) == 1


def _export(monkeypatch: pytest.MonkeyPatch, store: Store, clock: SettableClock, out: Path) -> int:
    monkeypatch.setattr("orbweaver.notices.commands._context", lambda: (store, clock))
    result = CliRunner().invoke(app, ["notices", "export", str(out)])
    return result.exit_code


def test_each_days_digest_gets_its_own_file(
    store: Store, clock: SettableClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _two_days_of_digests(store, clock)
    with store.session() as s:
        digests = s.scalars(select(Outbox).where(Outbox.kind == "digest")).all()
        rows = s.scalars(select(Outbox)).all()
        assert len(digests) == 2
        expected = sorted(json.dumps(r.xarf, sort_keys=True) for r in rows)
    out = tmp_path / "export"
    assert _export(monkeypatch, store, clock, out) == 0
    files = sorted(out.iterdir())
    assert len(files) == len(rows)
    assert sorted(json.dumps(json.loads(f.read_text()), sort_keys=True) for f in files) == expected
    # run again: nothing overwritten, nothing new
    before = {f.name: f.read_bytes() for f in files}
    assert _export(monkeypatch, store, clock, out) == 0
    assert {f.name: f.read_bytes() for f in out.iterdir()} == before


def test_a_different_file_in_the_way_is_never_overwritten(
    store: Store, clock: SettableClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _two_days_of_digests(store, clock)
    out = tmp_path / "export"
    assert _export(monkeypatch, store, clock, out) == 0
    victim = sorted(out.iterdir())[0]
    victim.write_text("an analyst's own notes\n")
    assert _export(monkeypatch, store, clock, out) == 1
    assert victim.read_text() == "an analyst's own notes\n"
