"""A list in python-threatexchange's file format (lines gone are withdrawn), and the CLI's
status with the stored checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from orbweaver.cli import app
from orbweaver.exchanges import ExchangeConfig, ExchangeSettings, build_client, fetch
from orbweaver.store import open_store
from orbweaver.store.models import BankEntry

from .helpers import pdq


def _live(store) -> set[str]:  # type: ignore[no-untyped-def]
    with store.session() as s:
        return set(s.scalars(sa.select(BankEntry.signal).where(BankEntry.removed_at.is_(None))))


def test_a_file_exchange_is_the_whole_list_each_time(store, clock, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "partner.txt"
    path.write_text(f"pdq {pdq(1)}\npdq {pdq(2)}\nvideo_md5 {'0' * 31}9\nraw_text hello\n")
    cfg = ExchangeConfig(kind="file", bank="partner", url=str(path), category="harmful_abusive")
    settings = ExchangeSettings(exchange={"partner": cfg})
    report = fetch(
        store, clock, "partner", cfg, build_client("partner", cfg, settings), snapshot=True
    )
    assert report.error == "" and report.added == 3 and report.skipped == 1  # raw text
    assert _live(store) == {pdq(1), pdq(2), "0" * 31 + "9"}
    path.write_text(f"pdq {pdq(2)}\npdq {pdq(3)}\n")
    report = fetch(
        store, clock, "partner", cfg, build_client("partner", cfg, settings), snapshot=True
    )
    assert report.removed == 2  # pdq 1 and the video md5
    assert _live(store) == {pdq(2), pdq(3)}
    with store.session() as s:
        entry = s.scalar(sa.select(BankEntry).where(BankEntry.signal == pdq(3)))
        assert entry is not None and entry.source == "partner"
        assert entry.category == "harmful_abusive"


def test_status_shows_the_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, later, service
) -> None:  # type: ignore[no-untyped-def]
    svc, server = service
    url = f"sqlite:///{tmp_path / 'ow.db'}"
    monkeypatch.setenv("ORBWEAVER_DATABASE_URL", url)
    monkeypatch.setenv("ORBWEAVER_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("")
    monkeypatch.setenv(
        "ORBWEAVER_EXCHANGE",
        json.dumps({"ncmec": {"kind": "ncmec", "bank": "ncmec", "url": server.url}}),
    )
    monkeypatch.setenv(
        "ORBWEAVER_EXCHANGE_CREDENTIALS", json.dumps({"ncmec": f"orbweaver:{svc.password}"})
    )
    svc.add("e1", {"pdq": pdq(1)}, at=later.now().replace(year=2020))
    store = open_store(url)
    cfg = ExchangeSettings().exchange["ncmec"]
    fetch(store, later, "ncmec", cfg, build_client("ncmec", cfg, ExchangeSettings()))
    result = CliRunner().invoke(app, ["exchange", "status", "--json"])
    assert result.exit_code == 0, result.output
    (row,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert row["name"] == "ncmec" and row["entries"] == 1 and row["error"] == ""
    assert row["checkpoint"] == {"from": int(later.now().timestamp()) - 5}
    assert svc.password not in result.output
    store.dispose()
