"""Attribution against the simulated world's DNS and RDAP: chains, CDN, overrides, cache, Tor."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from orbweaver.attribution.service import Attributor, add_override
from orbweaver.attribution.settings import AttributionSettings
from orbweaver.clock import SettableClock
from orbweaver.net import Resolver
from orbweaver.sim import World
from orbweaver.sim.scenario import SCENARIO_DIR
from orbweaver.store import Store
from orbweaver.store.models import Provider, ProviderAlias
from takedown.helpers import world_services

SCENARIOS = SCENARIO_DIR


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with World.start(SCENARIOS / "small.toml", scale=1.0, seed=3) as w:
        yield w


def _party(world: World, name: str) -> dict:
    """A provider of the world, with `own` = its sites that no CDN fronts."""
    parties = world.info["providers"]
    fronted = {s for p in parties if p["service_type"] == "cdn" for s in p["sites"]}
    party = dict(next(p for p in parties if p["name"] == name))
    party["own"] = [s for s in party["sites"] if s not in fronted or party["service_type"] == "cdn"]
    return party


def _attributor(world: World, clock: SettableClock, **kw: object) -> Attributor:
    settings = AttributionSettings(rdap_bootstrap_url=world.info["rdap_bootstrap"], **kw)
    resolver = Resolver([world.info["dns"]], cache_ttl=0)
    return Attributor(clock, resolver, settings, policy=world_services(world.info))


def test_host_chain_recipient_and_one_provider_per_organisation(
    world: World, store: Store, clock: SettableClock
) -> None:
    box = _party(world, "Boxhost")
    att = _attributor(world, clock)
    with store.session() as s:
        results = [att.attribute(s, site) for site in box["own"]]
    for r in results:
        assert r.error is None and r.recipient is not None
        assert r.recipient.name == "Boxhost" and r.recipient.contact == box["abuse_email"]
        assert [c.role for c in r.chain] == ["hosting_provider", "registrar"]
    with store.session() as s:
        assert s.scalar(select(func.count()).where(Provider.name == "Boxhost")) == 1
        p = s.scalar(select(Provider).where(Provider.name == "Boxhost"))
        assert p is not None and p.asn == box["asn"]
        kinds = set(s.scalars(select(ProviderAlias.kind).where(ProviderAlias.provider_id == p.id)))
        assert {"handle", "network", "asn", "domain"} <= kinds


def test_the_hosting_country_comes_from_rdap_and_reaches_the_report(
    world: World, store: Store, clock: SettableClock
) -> None:
    """RDAP's network `country` is kept with the host's attribution and a notice to that host
    is counted under it in the report's breakdown by hosting country."""
    from orbweaver.reports import build_report, load_inputs
    from orbweaver.store.models import AttributionCache, Notice

    box = _party(world, "Boxhost")
    host = box["own"][0]
    att = _attributor(world, clock)
    with store.session() as s:
        r = att.attribute(s, host)
        assert r.country == box["country"] and len(r.country) == 2
        assert (
            s.scalar(select(AttributionCache.country).where(AttributionCache.host == host))
            == (box["country"])
        )
        provider = s.scalar(select(Provider).where(Provider.name == "Boxhost"))
        assert provider is not None
        s.add(
            Notice(
                url=f"http://{host}/a.jpg",
                kind="media",
                host=host,
                network="clear",
                provider_id=provider.id,
                report_id="country-test",
                category="csam_prepubescent",
                created_at=clock.now(),
                first_sent_at=clock.now(),
                status="open",
            )
        )
    with store.session() as s:
        assert att.attribute(s, host).country == box["country"]  # from the cache
    report = build_report(load_inputs(store))
    assert [(row.name, row.targeted) for row in report.by_country] == [(box["country"], 1)]
    assert report.detail()["by_country"][0]["name"] == box["country"]


def test_cdn_fronted_site_goes_to_the_cdn(world: World, store: Store, clock: SettableClock) -> None:
    cdn = _party(world, "EdgeFront")
    att = _attributor(world, clock, cdn_asns=str(cdn["asn"]))
    with store.session() as s:
        r = att.attribute(s, cdn["sites"][0])
    assert r.recipient is not None and r.recipient.name == "EdgeFront"
    assert r.chain[0].role == "cdn" and r.chain[-1].role == "registrar"
    assert r.upstream_of(r.recipient.provider_id, 1) == r.chain[-1]


def test_providers_file_gives_roles_and_webhooks(
    world: World, store: Store, clock: SettableClock, tmp_path: Path
) -> None:
    path = tmp_path / "providers.json"
    path.write_text(json.dumps(world.info["providers"]))
    att = _attributor(world, clock, providers_file=str(path))
    pix, hook, cdn = (_party(world, n) for n in ("PixVenue", "Hooknet", "EdgeFront"))
    with store.session() as s:
        r_pix = att.attribute(s, pix["sites"][0])
        r_hook = att.attribute(s, hook["sites"][0])
        r_cdn = att.attribute(s, cdn["sites"][0])
    assert r_pix.chain[0].role == "content_administrator"
    assert r_hook.recipient is not None and r_hook.recipient.contact == hook["webhook"]
    assert r_cdn.chain[0].role == "cdn"  # known as a CDN from the file alone


def test_cache_ttl_and_override(world: World, store: Store, clock: SettableClock) -> None:
    box = _party(world, "Boxhost")
    site = box["own"][0]
    att = _attributor(world, clock, attribution_cache_ttl_s=3600)
    with store.session() as s:
        att.attribute(s, site)
    calls: list[str] = []
    real = att.rdap.ip
    att.rdap.ip = lambda a: calls.append(a) or real(a)  # type: ignore[method-assign]
    with store.session() as s:
        att.attribute(s, site)
    assert calls == []  # served from the cache
    clock.advance(timedelta(hours=2))
    with store.session() as s:
        att.attribute(s, site)
    assert len(calls) == 1  # expired, resolved again
    with store.session() as s:
        add_override(
            s,
            clock,
            {"domain": site, "provider": "Operator Desk", "abuse_email": "desk@hotline.test"},
        )
    with store.session() as s:
        r = att.attribute(s, site)
        other = att.attribute(s, box["own"][1])
    assert r.override and r.recipient is not None and r.recipient.name == "Operator Desk"
    assert r.chain[1].name == "Boxhost"  # the chain is kept behind the override
    assert other.recipient is not None and other.recipient.name == "Boxhost"
    with store.session() as s:
        add_override(
            s,
            clock,
            {"network": box["network"], "provider": "Net Desk", "abuse_email": "net@hotline.test"},
        )
    with store.session() as s:
        assert att.attribute(s, box["own"][1]).recipient.name == "Net Desk"  # type: ignore[union-attr]


def test_onion_and_unknown_hosts(world: World, store: Store, clock: SettableClock) -> None:
    att = _attributor(world, clock)
    with store.session() as s:
        onion = att.attribute(s, "abcdefghijklmnop.onion")
        missing = att.attribute(s, "no-such-site.test")
    assert onion.tor_only and onion.recipient_id is None
    assert missing.recipient_id is None and missing.error


def test_an_rdap_country_is_two_letters_or_nothing() -> None:
    from orbweaver.attribution.rdap import country_code

    assert [country_code(v) for v in ("nl", " DE ", "ZZ", "NLD", "1A", None, 7, "é1")] == [
        "NL",
        "DE",
        "",
        "",
        "",
        "",
        "",
        "",
    ]
