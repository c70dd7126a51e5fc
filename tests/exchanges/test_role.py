"""The exchanges role: built from settings like every role, one pass fetches every enabled
exchange through the deployment's network policy and sends pending feedback."""

from __future__ import annotations

import threading
from pathlib import Path

import sqlalchemy as sa

from orbweaver.config import RunSettings, Settings
from orbweaver.exchanges import ExchangeConfig, ExchangeSettings, exchanges_pass, reset
from orbweaver.roles import ROLES, ProductSettings, build_exchange_guard, build_exchanges
from orbweaver.store.models import BankEntry, Exchange

from .helpers import share


def _settings(tmp_path: Path, url: str, password: str, allow: list[str]) -> ProductSettings:
    return ProductSettings(
        core=Settings(database_url=f"sqlite:///{tmp_path / 'ow.db'}", service_allow_networks=allow),
        run=RunSettings(),
        exchanges=ExchangeSettings(
            exchange={
                "ncmec": ExchangeConfig(kind="ncmec", bank="ncmec", url=url, user="orbweaver"),
                "off": ExchangeConfig(kind="file", bank="x", url="/nonexistent", enabled=False),
            },
            exchange_credentials={"ncmec": f"orbweaver:{password}"},
        ),
    )


def test_the_role_fetches_every_enabled_exchange(tmp_path: Path, later, service) -> None:  # type: ignore[no-untyped-def]
    svc, server = service
    share(svc, 12)
    assert "exchanges" in ROLES
    s = _settings(tmp_path, server.url, svc.password, ["127.0.0.0/8"])
    role = build_exchanges(s, threading.Event())
    try:
        reports = exchanges_pass(role.store, later, s.exchanges, guard=role.guard)
        assert [(r.name, r.error, r.complete) for r in reports] == [("ncmec", "", True)]
        from orbweaver.ops import exposition

        metrics = exposition()[0].decode()
        assert 'orbweaver_exchanges_entries_added_total{exchange="ncmec"}' in metrics
        with role.store.session() as session:
            assert session.scalar(sa.select(sa.func.count()).select_from(BankEntry)) == 24
            assert {e.name for e in session.scalars(sa.select(Exchange))} == {"ncmec"}
    finally:
        role.close()


def test_the_network_policy_refuses_an_exchange_it_does_not_allow(
    tmp_path: Path, later, service
) -> None:  # type: ignore[no-untyped-def]
    svc, server = service
    share(svc, 3)
    s = _settings(tmp_path, server.url, svc.password, [])  # loopback not allowed
    role = build_exchanges(s)
    try:
        (report,) = exchanges_pass(role.store, later, s.exchanges, guard=build_exchange_guard(s))
        assert "refused by the network policy" in report.error
        assert svc.requests == 0
    finally:
        role.close()


def test_an_exchange_moved_to_another_bank_is_an_error_not_a_dead_role(
    tmp_path: Path, later, service
) -> None:  # type: ignore[no-untyped-def]
    svc, server = service
    share(svc, 2)
    s = _settings(tmp_path, server.url, svc.password, ["127.0.0.0/8"])
    role = build_exchanges(s)
    try:
        exchanges_pass(role.store, later, s.exchanges, guard=role.guard)
        moved = s.exchanges.exchange["ncmec"].model_copy(update={"bank": "elsewhere"})
        s.exchanges.exchange["ncmec"] = moved
        (report,) = exchanges_pass(role.store, later, s.exchanges, guard=role.guard)
        assert "orbweaver exchange reset" in report.error
        reset(role.store, later, "ncmec", moved)  # rebinds it: the next pass fills the new bank
        (report,) = exchanges_pass(role.store, later, s.exchanges, guard=role.guard)
        assert report.error == "" and report.added == 4
    finally:
        role.close()
