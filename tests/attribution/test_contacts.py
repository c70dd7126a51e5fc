"""Provider names and contacts are checked where they arrive (RDAP, the operator's files): one
mailbox per contact field, no control characters, bounded lengths; a refused one is logged and
never stored, and attribution falls back as it does when a contact is missing."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from orbweaver.attribution.rdap import DomainInfo, Entity, IpNetwork
from orbweaver.attribution.service import Attributor, add_override
from orbweaver.attribution.settings import AttributionSettings
from orbweaver.attribution.types import (
    ContactError,
    check_email,
    check_name,
    check_webhook,
)
from orbweaver.clock import SettableClock
from orbweaver.store import Store
from orbweaver.store.models import Event, Provider, ProviderOverride

GOOD_EMAILS = ["abuse@host.test", "abuse+csam@mail.host-1.test", "a.b_c@x.test."]
BAD_EMAILS = {
    "abuse@a.test, abuse@b.test": "a list",
    "abuse@a.test;abuse@b.test": "a list",
    "abuse@a.test\r\nBcc: x@b.test": "control",
    "Abuse Desk <abuse@a.test>": "not a bare address",
    "abuse at a.test": "not a bare address",
    "abuse@": "not one local@domain",
    "@a.test": "not one local@domain",
    "a@b@c.test": "not one local@domain",
    "abuse@a..test": "invalid domain",
    "abuse@-a.test": "invalid domain",
    "ab..use@a.test": "invalid local part",
    "abusé@a.test": "not ASCII",
    "x" * 65 + "@a.test": "invalid local part",
    "a@" + "b" * 260 + ".test": "longer than",
    "": "empty",
}


@pytest.mark.parametrize("value", GOOD_EMAILS)
def test_one_bare_mailbox_is_accepted(value: str) -> None:
    assert check_email(f"  {value} ") == value


@pytest.mark.parametrize(("value", "reason"), list(BAD_EMAILS.items()))
def test_anything_else_is_refused_with_its_reason(value: str, reason: str) -> None:
    with pytest.raises(ContactError, match=reason):
        check_email(value)


def test_surrounding_whitespace_is_not_a_control_character_problem() -> None:
    assert check_email("abuse@a.test\n") == "abuse@a.test"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("Evil Host\r\nBcc: x@y.test", "control"),
        ("Tab\there", "control"),
        ("Null\x00byte", "control"),
        ("Line\u2028sep", "control"),
        ("Backwards\u202eNAME", "bidirectional"),
        ("x" * 201, "longer than 200"),
        ("   ", "empty"),
        (None, "not text"),
    ],
)
def test_names_refuse_control_characters_and_length(value: Any, reason: str) -> None:
    with pytest.raises(ContactError, match=reason):
        check_name(value)


def test_names_keep_ordinary_punctuation_and_scripts() -> None:
    for name in ("Big Host, Inc.", "Hébergeur S.A.R.L.", "ООО Хостинг", "ホスト株式会社"):
        assert check_name(name) == name


@pytest.mark.parametrize(
    "value",
    ["ftp://x.test/hook", "http:///nohost", "https://x.test/a b", "https://x.test/\r\nX: y"],
)
def test_webhooks_are_http_urls_with_a_host(value: str) -> None:
    with pytest.raises(ContactError):
        check_webhook(value)
    assert check_webhook("https://hooks.x.test/abuse?k=1") == "https://hooks.x.test/abuse?k=1"


# -- where contacts enter: RDAP ----------------------------------------------------------------


@dataclass
class FakeRdap:
    """RDAP answers as a parser would hand them over, bad fields included."""

    owner: Entity
    registrar: Entity = field(
        default_factory=lambda: Entity("REG-1", "Good Registrar", "abuse@registrar.test")
    )

    def ip(self, address: str) -> IpNetwork:
        return IpNetwork("NET-1", "192.0.2.0/24", 64500, self.owner)

    def domain(self, name: str) -> DomainInfo:
        return DomainInfo(name, registrar=self.registrar)

    def close(self) -> None:
        pass


class FakeResolver:
    def addresses(self, host: str) -> list[str]:
        return ["192.0.2.10"]


def _attributor(clock: SettableClock, rdap: FakeRdap, **kw: Any) -> Attributor:
    return Attributor(clock, FakeResolver(), AttributionSettings(**kw), rdap=rdap)  # type: ignore[arg-type]


def _refusals(store: Store) -> list[dict[str, Any]]:
    with store.session() as s:
        kind = "attribution.contact_refused"
        return [e.payload for e in s.scalars(select(Event).where(Event.kind == kind))]


def test_an_rdap_address_list_is_refused_and_the_next_link_gets_the_notice(
    store: Store, clock: SettableClock, caplog: pytest.LogCaptureFixture
) -> None:
    owner = Entity("HOST-1", "Listy Host", "abuse@listy.test, ceo@listy.test", "listy.test")
    att = _attributor(clock, FakeRdap(owner))
    caplog.set_level(logging.WARNING, logger="orbweaver.attribution.service")
    with store.session() as s:
        result = att.attribute(s, "site.test")
    assert result.recipient is not None and result.recipient.name == "Good Registrar"
    assert result.recipient.contact == "abuse@registrar.test"
    assert [link.contact for link in result.chain] == [None, "abuse@registrar.test"]
    with store.session() as s:
        host = s.scalars(select(Provider).where(Provider.name == "Listy Host")).one()
        assert host.abuse_email is None
    assert ["a list" in r["reason"] for r in _refusals(store)] == [True]
    assert any(
        "RDAP 192.0.2.0/24" in r.getMessage() and "a list" in r.getMessage() for r in caplog.records
    )


def test_an_rdap_name_with_a_line_break_falls_back_to_the_handle(
    store: Store, clock: SettableClock
) -> None:
    owner = Entity("HOST-7", "Evil\r\nBcc: x@else.test", "abuse@evil.test", "evil.test")
    att = _attributor(clock, FakeRdap(owner))
    with store.session() as s:
        result = att.attribute(s, "site.test")
    assert result.recipient is not None and result.recipient.name == "HOST-7"
    assert result.recipient.contact == "abuse@evil.test"
    with store.session() as s:
        names = set(s.scalars(select(Provider.name)))
    assert names == {"HOST-7", "Good Registrar"}
    assert ["control" in r["reason"] for r in _refusals(store)] == [True]


def test_an_rdap_entity_with_neither_a_usable_name_nor_handle_is_left_out(
    store: Store, clock: SettableClock
) -> None:
    owner = Entity("", "\x1b[31mred", "abuse@red.test", "red.test")
    bad_registrar = Entity("REG\n2", "Reg\nistrar", "abuse@reg.test")
    att = _attributor(clock, FakeRdap(owner, bad_registrar))
    with store.session() as s:
        result = att.attribute(s, "site.test")
        assert s.scalars(select(Provider)).all() == []
    assert result.chain == [] and result.recipient is None
    assert result.error == "no provider with an abuse contact"
    assert len(_refusals(store)) == 3  # the name, the registrar's handle and name


# -- where contacts enter: the operator's files ----------------------------------------------


def test_a_bad_providers_file_entry_is_skipped_whole(
    store: Store, clock: SettableClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    entries = [
        {"name": "Good Host", "abuse_email": "abuse@good.test", "asn": 64501},
        {"name": "Two Mailboxes", "abuse_email": "a@two.test,b@two.test", "asn": 64502},
        {"name": "Hook\nHost", "webhook": "https://hook.test/x"},
        {"name": "Bad Hook", "webhook": "gopher://hook.test/x", "asn": 64503},
        {"name": "Good Hook", "webhook": "https://hook.test/abuse"},
    ]
    path = tmp_path / "providers.json"
    path.write_text(json.dumps(entries))
    att = _attributor(
        clock, FakeRdap(Entity("H", "Owner", "abuse@owner.test")), providers_file=str(path)
    )
    caplog.set_level(logging.WARNING, logger="orbweaver.attribution.service")
    with store.session() as s:
        att.load_files(s)
    with store.session() as s:
        stored = {p.name: (p.abuse_email, p.webhook_url) for p in s.scalars(select(Provider))}
    assert stored == {
        "Good Host": ("abuse@good.test", None),
        "Good Hook": (None, "https://hook.test/abuse"),
    }
    reasons = [r["reason"] for r in _refusals(store)]
    assert len(reasons) == 3
    assert "a list" in reasons[0] and "control" in reasons[1] and "http(s)" in reasons[2]
    assert sum(f"{path} entry" in r.getMessage() for r in caplog.records) == 3


def test_an_override_with_a_bad_contact_stores_nothing(store: Store, clock: SettableClock) -> None:
    with store.session() as s:
        with pytest.raises(ContactError, match="a list"):
            add_override(
                s,
                clock,
                {"domain": "x.test", "provider": "Desk", "abuse_email": "a@x.test, b@x.test"},
            )
        with pytest.raises(ContactError, match="control"):
            add_override(s, clock, {"domain": "x.test", "provider": "Desk\r\nX: y"})
    with store.session() as s:
        assert s.scalars(select(Provider)).all() == []
        assert s.scalars(select(ProviderOverride)).all() == []


def test_a_bad_overrides_file_entry_is_refused_and_the_chain_stands(
    store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    path = tmp_path / "overrides.json"
    path.write_text(
        json.dumps(
            [{"domain": "site.test", "provider": "Desk", "abuse_email": "x@a.test;y@b.test"}]
        )
    )
    owner = Entity("HOST-1", "Plain Host", "abuse@plain.test", "plain.test")
    att = _attributor(clock, FakeRdap(owner), overrides_file=str(path))
    with store.session() as s:
        result = att.attribute(s, "site.test")
    assert not result.override and result.recipient is not None
    assert result.recipient.name == "Plain Host"
    assert len(_refusals(store)) == 1
