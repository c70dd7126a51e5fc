"""Videos in the simulated world (issue 16): some of its pictures are short synthetic videos
(moving shapes and a caption, encoded with PyAV) served in `<video>`, `<source>`, links and
archives, with re-encoded, resized, trimmed and cropped copies beside them; the known ones are in
the world's list by their vPDQ. The crawl finds them, the copies match by vPDQ alone, and the
detections become notices the world receives. Small and fast: a fifth of the small world."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from orbweaver.banks import create_bank, import_csv
from orbweaver.clock import SystemClock
from orbweaver.sim.scenario import SCENARIO_DIR
from orbweaver.store.models import Detection, Media, Sighting


def video_scenario(tmp: Path) -> Path:
    text = (SCENARIO_DIR / "small.toml").read_text()
    path = tmp / "small-videos.toml"
    path.write_text(text.replace("[world]\n", "[world]\nvideo_share = 0.5\n", 1))
    return path


@pytest.fixture
def world(tmp_path: Path):
    from orbweaver.sim import World

    w = World.start(video_scenario(tmp_path), scale=0.5, seed=11)
    yield w
    w.stop()


def world_env(info) -> dict[str, str]:
    return {
        "ORBWEAVER_DNS_SERVERS": info["dns"],
        "ORBWEAVER_CRAWL_ALLOW_NETWORKS": ",".join(info["allow_networks"]),
        "ORBWEAVER_CRAWL_PORT_MAP": f"80={info['http_port']}",
        "ORBWEAVER_CLOCK_URL": info["clock"],
    }


def test_the_world_serves_videos_and_near_duplicates(world) -> None:
    cat = world.engine.cat
    videos = [im for im in cat.images if im.picture.is_video]
    assert videos and len(videos) < len(cat.images)
    kinds = {it.variant.kind for it in cat.items if it.kind == "image"}
    copies = [
        it
        for it in cat.items
        if it.kind == "image"
        and cat.images[it.image_ids[0]].picture.is_video
        and it.variant.kind != "orig"
    ]
    assert copies, kinds
    rows = Path(world.info["known_hashes_csv"]).read_text()
    assert "\nvpdq," in rows


def test_a_video_renders_to_the_same_bytes_every_time() -> None:
    """Found wiring videos into the world: libvpx's threads and its "realtime" deadline made
    each WebM render differ, so the world's list named a sha256 its sites never served."""
    import orbweaver.sim.videos  # noqa: F401  (video pictures render through it)
    from orbweaver.sim.media import Picture, Variant, render

    for picture, variant in (
        (Picture(4242, 256, 192, "webm"), Variant()),
        (Picture(4242, 256, 192, "mp4"), Variant("reencode", fmt="webm", quality=35)),
    ):
        assert render(picture, variant) == render(picture, variant)


@pytest.mark.slow
def test_world_videos_become_detections_and_notices(world, crawler, tmp_path: Path) -> None:
    from orbweaver.attribution.service import Attributor
    from orbweaver.attribution.settings import AttributionSettings
    from orbweaver.net import GuardedClient, Resolver
    from orbweaver.notices.runner import notify_pass
    from orbweaver.notices.settings import NoticeSettings
    from orbweaver.notices.transport import SmtpWebhookTransport
    from takedown.helpers import world_services

    info = world.info
    store = crawler.store()
    clock = SystemClock()
    create_bank(store, clock, "world-known")
    with open(info["known_hashes_csv"]) as f:
        assert import_csv(store, clock, "world-known", f).added > 0
    run = crawler.run(*info["seeds_clear"], timeout=600, **world_env(info))
    assert run.returncode == 0, run.stderr[-3000:] + run.log[-3000:]

    with store.session() as s:
        found = s.execute(
            sa.select(
                Sighting.url,
                Media.sha256,
                Media.mime_type,
                Detection.signal_type,
                Sighting.member_path,
            )
            .join(Detection, Detection.sighting_id == Sighting.id)
            .join(Media, Media.id == Sighting.media_id)
        ).all()
    videos = [f for f in found if (f.mime_type or "").startswith("video/")]
    assert videos, run.log[-3000:]
    for url, sha256, _mime, _kind, _member in videos:  # every video detected is one the world lists
        label = world.media.label(sha256)
        assert label is not None and label["label"] == "known", (url, label)
    by_vpdq = {f.url for f in videos if f.signal_type == "vpdq"}
    exact = {f.url for f in videos if f.signal_type in ("sha256", "md5")}
    assert by_vpdq - exact, "a near-duplicate copy matched by vPDQ alone"
    # known videos inside the public archives online now: each found as its archive's member
    cat, now = world.engine.cat, world.clock.now()
    in_archives = {
        member.name
        for it in cat.items
        if it.kind == "archive" and it.password is None and it.online(now)
        for iid, member in zip(it.image_ids, it.members, strict=True)
        if cat.images[iid].picture.is_video and cat.images[iid].label == "known"
    }
    assert in_archives, "the world's seed places a known video in a public archive"
    assert in_archives <= {f.member_path for f in videos}, in_archives

    specs = [dict(p, digest=False) for p in info["providers"]]
    providers = tmp_path / "providers.json"
    providers.write_text(json.dumps(specs))
    resolver = Resolver([info["dns"]], cache_ttl=0)
    attributor = Attributor(
        world.clock,
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
    )
    transport = SmtpWebhookTransport(settings, GuardedClient(world_services(info), resolver))
    for _ in range(3):  # the re-check before the first notice, then the notice
        notify_pass(store, world.clock, attributor, settings, transport)
    received = {n.url for n in world.engine.ledger.notices}
    assert {f.url for f in videos} & received, sorted(received)[:5]
    # the report counts them apart from pictures
    from orbweaver.reports import build_report, load_inputs

    report = build_report(load_inputs(store))
    by_type = {r.name: r.targeted for r in report.by_media_type}
    assert by_type.get("video", 0) >= 1, by_type
    detected = len({(f.url, f.member_path) for f in videos})  # a sighting each
    assert report.figure_1_0()["verified_videos_detected"] == detected
