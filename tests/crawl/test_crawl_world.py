"""End to end on the simulated internet (issue 3): DNS, image hosts, file hosts with archives,
an .onion forum behind the Tor proxy with archive passwords in its posts."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from orbweaver.banks import create_bank, import_csv
from orbweaver.clock import SystemClock
from orbweaver.sim.scenario import SCENARIO_DIR
from orbweaver.store.models import CrawlPage, Detection, Sighting, Suspect


@pytest.fixture
def world():
    from orbweaver.sim import World

    w = World.start(SCENARIO_DIR / "small.toml", scale=0.2, seed=5)
    yield w
    w.stop()


def world_env(world) -> dict[str, str]:
    info = world.info
    return {
        "ORBWEAVER_DNS_SERVERS": info["dns"],
        "ORBWEAVER_TOR_PROXY": info["tor_proxy"],
        "ORBWEAVER_CRAWL_ALLOW_NETWORKS": ",".join(info["allow_networks"]),
        "ORBWEAVER_CRAWL_PORT_MAP": f"80={info['http_port']}",
        "ORBWEAVER_CLOCK_URL": info["clock"],
    }


def load_bank(store, world) -> None:
    clock = SystemClock()
    create_bank(store, clock, "world-known")
    with open(world.info["known_hashes_csv"]) as f:
        report = import_csv(store, clock, "world-known", f)
    assert report.added > 0


@pytest.mark.slow
@pytest.mark.parametrize("media_workers", ["0", "1"])
def test_world_crawl_finds_known_media_in_pages_archives_and_tor(
    world, crawler, media_workers: str
) -> None:
    """Media inside the page crawl, or fetched by media workers (issue 15): Tor provenance,
    passwords from the page and re-crawls alike."""
    store = crawler.store()
    crawler.env["ORBWEAVER_CRAWL_MEDIA_WORKERS"] = media_workers
    load_bank(store, world)
    onion = world.info["seeds_onion"]
    run = crawler.run(*onion, timeout=300, **world_env(world))
    assert run.returncode == 0, run.stderr[-3000:] + run.log[-3000:]
    with store.session() as s:
        members = s.execute(
            sa.select(
                Sighting.archive_url,
                Sighting.member_path,
                Sighting.network,
                Sighting.reached_from_tor,
            ).where(Sighting.archive_url.is_not(None))
        ).all()
    # archives linked from the onion forum are on clear-web file hosts, reached from Tor
    assert members, run.log[-3000:]
    assert all(m.network == "clear" and m.reached_from_tor for m in members)
    assert all(m.member_path for m in members)
    # encrypted archives are announced on the forum with their password in a sibling paragraph
    assert "(password from the page)" in run.log, run.log[-3000:]
    assert "none of 0 password(s)" not in run.log

    run = crawler.run(
        *world.info["seeds_clear"], "--recrawl-every", "86400", timeout=300, **world_env(world)
    )
    assert run.returncode == 0, run.stderr[-3000:] + run.log[-3000:]
    with store.session() as s:
        before = s.scalar(sa.select(sa.func.count()).select_from(Sighting))
        due = s.scalar(sa.select(sa.func.count()).select_from(CrawlPage))
    assert due > 0
    # time passes in the world: new uploads appear; pages with media are due again
    world.clock.advance(timedelta(days=700))
    run = crawler.run("--recrawl-every", "86400", timeout=300, **world_env(world))
    assert run.returncode == 0, run.stderr[-3000:] + run.log[-3000:]
    with store.session() as s:
        sightings = s.scalar(sa.select(sa.func.count()).select_from(Sighting))
        detections = s.scalar(sa.select(sa.func.count()).select_from(Detection))
        suspects = s.scalar(sa.select(sa.func.count()).select_from(Suspect))
        tor_pages = s.scalar(
            sa.select(sa.func.count()).select_from(Sighting).where(Sighting.reached_from_tor)
        )
    assert sightings > before, "re-crawl found no new uploads"
    assert detections > 0 and tor_pages > 0
    assert suspects >= 0  # few images at this scale; suspects are covered by the loopback tests
    assert "policy refused" not in run.log
