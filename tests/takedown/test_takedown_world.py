"""End to end on the simulated internet: crawl → detections → attribution → X-ARF notices to the
right provider's mailbox/webhook → the world removes → re-checks measure the removal time.

Covers a plain host, a CDN-fronted site, archives, follow-ups then escalation for providers that
do not act, and re-uploads flagged as recidivism. The world and the product share the world's
clock; the product reaches the world only over loopback sockets.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from orbweaver.attribution.service import Attributor
from orbweaver.attribution.settings import AttributionSettings
from orbweaver.banks import create_bank, import_csv
from orbweaver.demo.run import product_env
from orbweaver.monitor import MonitorSettings, check_due, removal_seconds
from orbweaver.net import GuardedClient, GuardedFetcher, Resolver
from orbweaver.notices.runner import notify_pass
from orbweaver.notices.settings import NoticeSettings
from orbweaver.notices.transport import SmtpWebhookTransport
from orbweaver.notices.xarf import validation_errors
from orbweaver.sim.scenario import SCENARIO_DIR
from orbweaver.store import Store, open_store
from orbweaver.store.models import Check, Event, Notice, NoticeItem, Outbox, Provider
from orbweaver.store.vault import new_key
from takedown.helpers import world_policy, world_services

ROOT = Path(__file__).resolve().parents[2]
XARF = ROOT / "tests" / "data" / "xarf" / "schemas" / "v4"
MON = MonitorSettings(
    recheck_schedule_hours=[1, 6, 24],
    recheck_every_hours=24,
    offline_confirm_misses=2,
    offline_confirm_spacing_minutes=5,
)


@pytest.fixture
def world() -> Iterator[object]:
    """A world of its own per test: each test counts every notice in the world's ledger as its
    own (none lost, none sent twice), which a world shared with another test would break."""
    from orbweaver.sim import World

    w = World.start(SCENARIO_DIR / "small.toml", scale=0.5, seed=11)
    yield w
    w.stop()


def _env(world: object, db_url: str, tmp: Path) -> dict[str, str]:
    info = world.info  # type: ignore[attr-defined]
    return product_env(info, db_url, tmp / "data", new_key())


def _crawl(env: dict[str, str], *urls: str) -> None:
    cmd = [
        sys.executable,
        "-m",
        "orbweaver.cli",
        "crawl",
        *urls,
        "--until-idle",  # without it the crawler is a daemon waiting for reports and re-crawls
        "--no-progress",
        "--recrawl-every",
        "86400",
        "--no-jobdir",
        "--log-level",
        "WARNING",
    ]
    log = Path(env["ORBWEAVER_DATA_DIR"]).parent / "crawl.log"
    with open(log, "a") as out:
        run = subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=240)
    assert run.returncode == 0, log.read_text()[-3000:]


class Product:
    """The product's notifier and monitor, in this process, on the world's clock."""

    def __init__(self, world: object, store: Store, tmp: Path) -> None:
        info = world.info  # type: ignore[attr-defined]
        self.world, self.store, self.clock = world, store, world.clock  # type: ignore[attr-defined]
        providers = tmp / "providers.json"
        providers.write_text(json.dumps(info["providers"]))
        resolver = Resolver([info["dns"]], cache_ttl=0)
        self.attributor = Attributor(
            self.clock,
            resolver,
            AttributionSettings(
                rdap_bootstrap_url=info["rdap_bootstrap"],
                providers_file=str(providers),
                attribution_cache_ttl_s=3600,
            ),
            policy=world_services(info, timeout=10),
        )
        host, port = info["smtp"].rsplit(":", 1)
        self.settings = NoticeSettings(
            smtp_host=host,
            smtp_port=int(port),
            notice_from="notices@hotline.test",
            notice_domain="hotline.test",
            escalate_after_rounds=2,
        )
        self.fetcher = GuardedFetcher(world_policy(info, timeout=10), resolver)
        webhooks = GuardedClient(world_services(info), resolver, timeout=10)
        self.transport = SmtpWebhookTransport(self.settings, webhooks)

    def step(self) -> None:
        notify_pass(self.store, self.clock, self.attributor, self.settings, self.transport)
        check_due(self.store, self.clock, self.fetcher, MON)

    def run_until(self, until: datetime) -> None:
        """Jump from one due time to the next (checks, follow-ups), as a deployment would."""
        self.step()
        while True:
            with self.store.session() as s:
                nxt = min(
                    [
                        t
                        for t in (
                            s.scalar(
                                select(func.min(Notice.next_check_at)).where(
                                    Notice.status == "open"
                                )
                            ),
                            s.scalar(
                                select(func.min(Notice.next_followup_at)).where(
                                    Notice.status == "open", Notice.miss_count == 0
                                )
                            ),
                        )
                        if t is not None
                    ],
                    default=None,
                )
            now = self.clock.now().replace(tzinfo=None)
            target = min(nxt, until) if nxt is not None else until
            if target <= now:
                target = now + timedelta(seconds=1)
            if target > until:
                return
            self.clock.set(target + timedelta(seconds=1))
            self.step()


def _sight_known(world: object, store: Store, fetcher: GuardedFetcher) -> int:
    """Stand-in for the crawl: fetch every online known picture the world hosts (through the
    product's policy and the world's DNS) and record the sighting and detection rows the crawl
    would write. Used when the crawl itself is not under test."""
    from orbweaver.signals import compute_signals
    from orbweaver.store.models import Bank, BankEntry, Detection, Media, Sighting

    engine = world.engine  # type: ignore[attr-defined]
    now = world.clock.now()  # type: ignore[attr-defined]
    naive = now.replace(tzinfo=None)
    added = 0
    with store.session() as s:
        bank = s.scalar(select(Bank).where(Bank.name == "world-known"))
        assert bank is not None
        for item in engine.cat.items:
            images = [engine.cat.images[i] for i in item.image_ids]
            if item.kind != "image" or not item.online(now) or item.site.onion:
                continue
            if not any(im.label == "known" for im in images):
                continue
            url = item.url
            if s.scalar(select(Sighting.id).where(Sighting.url == url)) is not None:
                continue
            got = fetcher.get(url)
            if not got.ok or got.body is None:
                continue
            sig = compute_signals(got.body)
            media = s.scalar(select(Media).where(Media.sha256 == sig.sha256))
            if media is None:
                media = Media(
                    sha256=sig.sha256,
                    sha1=sig.sha1,
                    md5=sig.md5,
                    pdq=sig.pdq,
                    pdq_quality=sig.pdq_quality,
                    size_bytes=sig.size_bytes,
                    first_seen_at=naive,
                )
                s.add(media)
                s.flush()
            category = images[0].category or "csam_prepubescent"
            entry = BankEntry(
                bank_id=bank.id,
                signal_type="sha256",
                signal=sig.sha256 + url[-8:],
                category=category,
                added_at=naive,
            )
            s.add(entry)
            sighting = Sighting(media_id=media.id, url=url, host=item.site.domain, seen_at=naive)
            s.add(sighting)
            s.flush()
            s.add(
                Detection(
                    sighting_id=sighting.id,
                    bank_entry_id=entry.id,
                    signal_type="sha256",
                    category=category,
                    detected_at=naive,
                )
            )
            added += 1
    return added


def _truth_removal_days(world: object, provider: str, url: str) -> float | None:
    engine = world.engine  # type: ignore[attr-defined]
    ep = engine.ledger.episodes.get((provider, url))
    if ep is None:
        return None
    item = engine.cat.items[ep.item_id]
    if item.removed_at is None or item.removed_at > world.clock.now():  # type: ignore[attr-defined]
        return None
    return (item.removed_at - ep.first_notice_at).total_seconds() / 86400


def _assert_measured(world: object, store: Store, *, archives: bool) -> None:
    with store.session() as s:
        notices = s.scalars(select(Notice)).all()
        names = {p.id: p.name for p in s.scalars(select(Provider))}
        sent = s.scalars(select(Outbox).where(Outbox.status == "sent")).all()
        kinds = s.scalars(select(Event.kind)).all()
        checks = s.scalar(select(func.count()).select_from(Check))
    assert notices and sent and checks
    for row in sent:
        assert validation_errors(row.xarf, XARF) == []
    ledger = world.engine.ledger.notices  # type: ignore[attr-defined]
    assert sorted(n.report_id for n in ledger) == sorted(r.xarf["report_id"] for r in sent)
    sent_to = {names[n.provider_id] for n in notices if n.provider_id and n.first_sent_at}
    assert {"Boxhost", "EdgeFront"} <= sent_to, sent_to
    assert not archives or any(n.kind == "archive" and n.first_sent_at for n in notices)
    compared = 0
    errors: list[float] = []
    for n in notices:
        if n.status != "removed" or n.provider_id is None:
            continue
        truth = _truth_removal_days(world, names[n.provider_id], n.url)
        ours = removal_seconds(n)
        assert truth is not None and ours is not None, n.url
        assert abs(ours / 86400 - truth) <= 1.0 + 1 / 24, (n.url, ours / 86400, truth)
        compared += 1
        errors.append(abs(ours / 86400 - truth))
    assert compared >= 3, compared
    print(
        f"\nremoval time vs truth: {compared} notices, max error {max(errors):.3f} d, "
        f"mean {sum(errors) / len(errors):.3f} d; notices {len(notices)}, sent {len(sent)}, "
        f"recidivist {sum(n.recidivist for n in notices)}, "
        f"escalations {kinds.count('notice.escalated')}"
    )
    assert kinds.count("followup.sent") > 0
    assert kinds.count("notice.escalated") > 0
    assert any("orbweaver:escalation" in n.tags for n in ledger)
    assert any(n.recidivist for n in notices), "no re-upload was flagged"
    _assert_rules_hold(store)


def _assert_rules_hold(store: Store) -> None:
    """The outcomes the product computed, checked against its own stored facts: removal time
    is the midpoint of the stored checks, escalations come exactly after every second
    unanswered round and go up the chain, and recidivism is counted at the same provider only
    (every notice sharing a file with an earlier notice to its provider is flagged)."""
    with store.session() as s:
        notices = {n.id: n for n in s.scalars(select(Notice))}
        checks: dict[int, list[Check]] = {}
        for c in s.scalars(select(Check).order_by(Check.id)):
            checks.setdefault(c.notice_id, []).append(c)
        sent: dict[int, list[Outbox]] = {}
        for row in s.scalars(select(Outbox).where(Outbox.status == "sent").order_by(Outbox.id)):
            if row.notice_id is not None:
                sent.setdefault(row.notice_id, []).append(row)
        media: dict[int, set[int]] = {}
        for item in s.scalars(select(NoticeItem)):
            media.setdefault(item.notice_id, set()).add(item.media_id)
        s.expunge_all()
    removed = 0
    for n in notices.values():
        if n.status != "removed":
            continue
        outcomes = checks[n.id]
        streak = len(outcomes)
        while streak > 0 and outcomes[streak - 1].outcome != "online":
            streak -= 1
        first_miss = outcomes[streak].at
        assert n.first_sent_at is not None
        lower = outcomes[streak - 1].at if streak else n.first_sent_at
        assert n.removed_at == lower + (first_miss - lower) / 2, n.url
        removed += 1
    assert removed >= 3
    escalated = 0
    for notice_id, rows in sent.items():
        rows.sort(key=lambda r: (r.sent_at, r.id))
        rounds = 0
        for row in rows:
            if row.kind == "escalation":
                assert rounds == 2 * row.round, [(r.kind, r.round) for r in rows]
                assert row.provider_id != notices[notice_id].provider_id
                escalated += 1
            elif row.kind in ("notice", "followup"):
                rounds += 1
                assert row.round == rounds
    assert escalated > 0
    flagged = 0
    for n in notices.values():
        if n.recidivist:
            first = notices[n.recidivist_of_id or 0]
            assert first.provider_id == n.provider_id and first.id < n.id, n.url
            flagged += 1
        shared = [
            m.id
            for m in notices.values()
            if m.id < n.id
            and m.provider_id == n.provider_id
            and n.provider_id is not None
            and media.get(m.id, set()) & media.get(n.id, set())
        ]
        if shared:
            assert n.recidivist and (n.recidivist_of_id or 0) <= min(shared), n.url
    assert flagged > 0


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_detections_to_measured_removal_on_the_simulated_world(
    world: object, tmp_path: Path
) -> None:
    """Everything after the crawl, against the live world: detections are recorded by fetching
    the world's known pictures (the crawl's job, tested in tests/crawl)."""
    db_url = f"sqlite:///{tmp_path / 'orbweaver.db'}"
    store = open_store(db_url)
    create_bank(store, world.clock, "world-known")  # type: ignore[attr-defined]
    product = Product(world, store, tmp_path)
    start = world.clock.now().replace(tzinfo=None)  # type: ignore[attr-defined]
    assert _sight_known(world, store, product.fetcher) > 0
    for day in range(15, 91, 15):
        product.run_until(start + timedelta(days=day))
        _sight_known(world, store, product.fetcher)  # re-uploads appear over time
    product.run_until(start + timedelta(days=95))
    _assert_measured(world, store, archives=False)
    store.dispose()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_crawl_to_measured_removal_on_the_simulated_world(world: object, tmp_path: Path) -> None:
    """The whole chain with the real crawler in a subprocess (archives included)."""
    info = world.info  # type: ignore[attr-defined]
    db_url = f"sqlite:///{tmp_path / 'orbweaver.db'}"
    store = open_store(db_url)
    create_bank(store, world.clock, "world-known")  # type: ignore[attr-defined]
    with open(info["known_hashes_csv"]) as f:
        import_csv(store, world.clock, "world-known", f)  # type: ignore[attr-defined]
    env = _env(world, db_url, tmp_path)
    _crawl(env, *info["seeds"])
    product = Product(world, store, tmp_path)
    start = world.clock.now().replace(tzinfo=None)  # type: ignore[attr-defined]
    product.run_until(start + timedelta(days=45))
    _crawl(env)  # re-uploads appear; pages with media are due again
    product.run_until(start + timedelta(days=75))
    _assert_measured(world, store, archives=True)
    store.dispose()
