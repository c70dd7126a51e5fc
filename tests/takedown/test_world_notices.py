"""The simulated world reads the product's notices as the product means them: follow-up rounds
and escalations register as such (tags `orbweaver:round-N`, `orbweaver:escalation`), and a daily
digest's reports each count as a notice. No crawl: detections are synthetic rows naming URLs the
world hosts; notices go out over the world's SMTP and webhooks on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from orbweaver.attribution.service import Attributor
from orbweaver.attribution.settings import AttributionSettings
from orbweaver.net import GuardedClient, Resolver
from orbweaver.notices.runner import notify_pass
from orbweaver.notices.settings import NoticeSettings
from orbweaver.notices.transport import SmtpWebhookTransport
from orbweaver.sim.scenario import SCENARIO_DIR
from orbweaver.store import Store
from orbweaver.store.models import Outbox
from takedown.helpers import detect, world_services

ROOT = Path(__file__).resolve().parents[2]
XARF = ROOT / "tests" / "data" / "xarf" / "schemas" / "v4"


@pytest.fixture
def world() -> Iterator[object]:
    from orbweaver.sim import World

    with World.start(SCENARIO_DIR / "small.toml", scale=0.5, seed=11) as w:
        yield w


def _product(
    world: object, tmp: Path, *, digest: frozenset[str] = frozenset(), **kw: object
) -> tuple[Attributor, NoticeSettings, SmtpWebhookTransport]:
    """The notifier's parts against the world: RDAP and webhooks through the network policy,
    which allows the world's sites, RDAP server and webhook endpoint."""
    info = world.info  # type: ignore[attr-defined]
    specs = [dict(p, digest=p["name"] in digest) for p in info["providers"]]
    providers = tmp / "providers.json"
    providers.write_text(json.dumps(specs))
    resolver = Resolver([info["dns"]], cache_ttl=0)
    attributor = Attributor(
        world.clock,  # type: ignore[attr-defined]
        resolver,
        AttributionSettings(
            rdap_bootstrap_url=info["rdap_bootstrap"], providers_file=str(providers)
        ),
        policy=world_services(info),
    )
    host, port = info["smtp"].rsplit(":", 1)
    settings = NoticeSettings(
        smtp_host=host,
        smtp_port=int(port),
        notice_from="notices@hotline.test",
        notice_domain="hotline.test",
        **kw,
    )
    transport = SmtpWebhookTransport(settings, GuardedClient(world_services(info), resolver))
    return attributor, settings, transport


def _online_items(world: object, n: int, channel: str = "smtp") -> list[object]:
    engine = world.engine  # type: ignore[attr-defined]
    now = world.clock.now()  # type: ignore[attr-defined]
    out = []
    for item in engine.cat.items:
        site = item.site
        if item.kind != "image" or site.onion or not item.online(now) or site.cdn is not None:
            continue
        if site.host is None or site.host.notice_channel != channel:
            continue
        out.append(item)
        if len(out) == n:
            break
    assert len(out) == n
    return out


def _detect_all(store: Store, world: object, items: list[object]) -> None:
    now = world.clock.now().replace(tzinfo=None)  # type: ignore[attr-defined]
    with store.session() as s:
        for item in items:
            detect(s, now, item.url)  # type: ignore[attr-defined]


def test_world_registers_follow_up_rounds_and_escalation(
    world: object, store: Store, tmp_path: Path
) -> None:
    attributor, settings, transport = _product(world, tmp_path, escalate_after_rounds=2)
    items = _online_items(world, 2)
    _detect_all(store, world, items)
    for _ in range(4):  # round 1, round 2, escalation, round 3
        notify_pass(store, world.clock, attributor, settings, transport)  # type: ignore[attr-defined]
        world.clock.advance(timedelta(hours=25))  # type: ignore[attr-defined]
    ledger = {n.report_id: n for n in world.engine.ledger.notices}  # type: ignore[attr-defined]
    with store.session() as s:
        rows = s.scalars(select(Outbox).where(Outbox.status == "sent")).all()
        kinds = sorted((r.kind, r.round) for r in rows)
        assert ("followup", 2) in kinds and ("escalation", 1) in kinds, kinds
        for row in rows:
            seen = ledger[row.xarf["report_id"]]
            assert seen.escalation == (row.kind == "escalation"), (row.kind, seen.tags)
            if row.kind != "escalation":
                assert seen.round == row.round, (row.kind, row.round, seen.tags)
    assert max(n.round for n in ledger.values()) >= 2


def test_world_reads_both_round_tag_spellings() -> None:
    from orbweaver.sim.behaviour import parse_round

    assert parse_round(("orbweaver:round-3", "orbweaver:media")) == (3, False)
    assert parse_round(("orbweaver:round:4",)) == (4, False)
    assert parse_round(("orbweaver:escalation", "orbweaver:escalation-2")) == (1, True)
    assert parse_round(("orbweaver:escalation-1", "orbweaver:round-x")) == (1, True)
    assert parse_round(()) == (1, False)


@pytest.mark.parametrize("channel", ["smtp", "webhook"])
def test_world_reads_every_report_of_a_daily_digest(
    world: object, store: Store, tmp_path: Path, channel: str
) -> None:
    items = _online_items(world, 3, channel)
    host = items[0].site.host  # type: ignore[attr-defined]
    items = [i for i in items if i.site.host is host]  # type: ignore[attr-defined]
    attributor, settings, transport = _product(world, tmp_path, digest=frozenset({host.name}))
    _detect_all(store, world, items)
    stats = notify_pass(store, world.clock, attributor, settings, transport)  # type: ignore[attr-defined]
    assert stats.digests == 1 and stats.delivery.sent == 1
    with store.session() as s:
        digest = s.scalars(select(Outbox).where(Outbox.kind == "digest")).one()
        members = s.scalars(select(Outbox).where(Outbox.kind == "notice")).all()
        assert {m.status for m in members} == {"sent"} and len(members) == len(items)
        ids = sorted(r["report_id"] for r in digest.xarf["reports"])
    ledger = world.engine.ledger.notices  # type: ignore[attr-defined]
    assert sorted(n.report_id for n in ledger) == ids
    assert {n.url for n in ledger} == {i.url for i in items}  # type: ignore[attr-defined]
    assert all(n.recipient == host.name and n.channel == channel for n in ledger)
    if channel == "smtp":
        box = world.mailboxes.boxes[host.abuse_email]  # type: ignore[attr-defined]
        assert [m["reports"] for m in box] == [len(items)]


def test_monitor_policy_from_env_reaches_world_urls_through_the_port_map(
    world: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`orbweaver monitor` builds its policy from the environment: world URLs carry no port,
    and ORBWEAVER_CRAWL_PORT_MAP=80=<http_port> is what makes re-checks reach them."""
    from orbweaver.config import Settings
    from orbweaver.net import GuardedFetcher, NetworkPolicy

    info = world.info  # type: ignore[attr-defined]
    monkeypatch.setenv("ORBWEAVER_CRAWL_ALLOW_NETWORKS", ",".join(info["allow_networks"]))
    item = _online_items(world, 1)[0]
    resolver = Resolver([info["dns"]], cache_ttl=0)
    monkeypatch.setenv("ORBWEAVER_CRAWL_PORT_MAP", f"80={info['http_port']}")
    fetcher = GuardedFetcher(NetworkPolicy.from_settings(Settings(), timeout=5), resolver)
    try:
        got = fetcher.get(item.url)  # type: ignore[attr-defined]
        assert got.ok and got.status == 200, got
    finally:
        fetcher.close()
    monkeypatch.setenv("ORBWEAVER_CRAWL_PORT_MAP", "")
    fetcher = GuardedFetcher(NetworkPolicy.from_settings(Settings(), timeout=5), resolver)
    try:
        assert not fetcher.get(item.url).ok  # type: ignore[attr-defined]
    finally:
        fetcher.close()
