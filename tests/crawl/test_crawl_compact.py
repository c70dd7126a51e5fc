"""The store writer's compact layout (issue 22): what matched nothing on a host without
detections keeps 64 bytes of signals, 8 of URL hash and a count; detections and suspects keep
their full rows, including media first kept compactly and promoted from the limbo."""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from orbweaver.banks.matcher import Match
from orbweaver.crawl.items import MediaItem
from orbweaver.crawl.options import CrawlOptions
from orbweaver.crawl.writer import SightingWriter
from orbweaver.signals import MediaSignals
from orbweaver.store import find_sha256, iter_signals, new_key, seen_urls
from orbweaver.store.models import (
    Bank,
    BankEntry,
    CrawlHostDay,
    CrawlPage,
    CrawlSeen,
    Detection,
    Media,
    MediaSignalBlock,
    Sighting,
    Suspect,
)


def _hex(seed: str, n: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:n]


def item(host: str, name: str, match: Match | None = None) -> MediaItem:
    signals = MediaSignals(
        sha256=_hex(name, 64),
        sha1=_hex(name + "1", 40),
        md5=_hex(name + "5", 32),
        size_bytes=1000,
        mime_type="image/jpeg",
        pdq=_hex(name + "p", 64),
        pdq_quality=100,
    )
    url = f"http://{host}/img/{name}.jpg"
    return MediaItem(
        url=url,
        host=host,
        page_url=f"http://{host}/",
        network="clear",
        reached_from_tor=False,
        data=b"bytes of " + name.encode(),
        signals=signals,
        matches=[match] if match else [],
    )


def entry(store, now) -> Match:
    with store.session() as s:
        bank = Bank(name="known", created_at=now)
        s.add(bank)
        s.flush()
        e = BankEntry(
            bank_id=bank.id,
            signal_type="sha256",
            signal=_hex("known", 64),
            category="csam_prepubescent",
            added_at=now,
        )
        s.add(e)
        s.flush()
        return Match("known", bank.id, e.id, "csam_prepubescent", "sha256", 0)


def writer(store, clock, **options) -> SightingWriter:
    return SightingWriter(store, clock, CrawlOptions(**options), new_key(), lambda k, n: None)


def count(store, model) -> int:
    with store.session() as s:
        return int(s.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def test_unmatched_on_clean_hosts_keep_signals_seen_urls_and_counts(store, clock) -> None:
    w = writer(store, clock)
    batch = [item("clean.test", f"c{i}") for i in range(10)]
    batch.append(item("clean.test", "c0"))  # the same file at a second URL
    batch[-1].url = "http://clean.test/img/copy.jpg"
    w.write(batch)

    assert count(store, Sighting) == 0 and count(store, Media) == 0
    with store.session() as s:
        blocks = s.scalars(sa.select(MediaSignalBlock)).all()
        assert [b.n for b in blocks] == [10]  # deduplicated by sha256
        assert len(blocks[0].records) == 10 * 60
        seen = s.scalars(sa.select(CrawlSeen)).one()
        assert (seen.host, seen.n, len(seen.url_hashes)) == ("clean.test", 11, 11 * 8)
        day = s.get(CrawlHostDay, ("clean.test", clock.now().date().isoformat()))
        assert (day.fetched, day.unmatched) == (11, 11)
        urls = [i.url for i in batch] + ["http://clean.test/never.jpg"]
        assert seen_urls(s, "clean.test", urls, clock.now() - timedelta(days=1)) == {
            i.url for i in batch
        }
        found = find_sha256(s, _hex("c3", 64))
        assert found is not None and found.pdq == bytes.fromhex(_hex("c3p", 64))
        assert found.md5_prefix == bytes.fromhex(_hex("c35", 32))[:8]
        assert find_sha256(s, _hex("nope", 64)) is None
        assert len(list(iter_signals(s))) == 10


def test_a_promoted_file_already_kept_in_full_elsewhere_is_not_inserted_twice(store, clock) -> None:
    """Found by merging with the media workers: a file waiting in the limbo (compact) that
    another batch kept in full meanwhile (a suspect on a host with detections) made the
    promotion insert its media row again, a unique violation that lost the whole batch."""
    match = entry(store, clock.now())
    w = writer(store, clock)
    w.write([item("bad.test", "known", match)])  # bad.test has a detection
    w.write([item("clean.test", "shared")])  # compact, waits in the limbo
    w.write([item("bad.test", "shared")])  # the same file on bad.test: a full suspect row
    assert count(store, Media) == 2 and count(store, Suspect) == 1
    w.write(
        [
            item(
                "clean.test",
                "known2",
                Match("known", match.bank_id, match.entry_id, match.category, "sha256", 0),
            )
        ]
    )
    with store.session() as s:
        assert count(store, Media) == 3  # "known", "shared" (once), "known2"
        hosts = sorted(s.scalars(sa.select(Sighting.host).join(Suspect)))
        assert hosts == ["bad.test", "clean.test"]  # the promoted one kept too


def test_detections_and_suspects_keep_full_records(store, clock) -> None:
    match = entry(store, clock.now())
    w = writer(store, clock)
    # seen before the host's first detection: kept compactly, waits in the limbo
    w.write([item("bad.test", "early")])
    assert count(store, Sighting) == 0
    w.write([item("bad.test", "known", match), item("bad.test", "late")])
    with store.session() as s:
        det, sighting = s.execute(sa.select(Detection, Sighting).join(Sighting)).one()
        assert sighting.url == "http://bad.test/img/known.jpg"
        assert sighting.page_url == "http://bad.test/" and det.category == "csam_prepubescent"
        suspects = s.execute(
            sa.select(Sighting.url, Media.sha256).join(Suspect.sighting).join(Suspect.media)
        ).all()
        assert sorted(url for url, _ in suspects) == [
            "http://bad.test/img/early.jpg",
            "http://bad.test/img/late.jpg",
        ]
        assert all(c for c in s.scalars(sa.select(Suspect.ciphertext)))
        day = s.get(CrawlHostDay, ("bad.test", clock.now().date().isoformat()))
        assert (day.fetched, day.unmatched) == (3, 2)


def test_full_option_keeps_every_sighting(store, clock) -> None:
    writer(store, clock, unmatched="full").write([item("clean.test", f"c{i}") for i in range(3)])
    assert count(store, Sighting) == 3 and count(store, Media) == 3
    assert count(store, MediaSignalBlock) == 0


def test_media_kept_in_full_are_not_packed_again(store, clock) -> None:
    match = entry(store, clock.now())
    w = writer(store, clock)
    w.write([item("bad.test", "known", match)])
    copy = item("clean.test", "known")  # the known file, unmatched here (say, list disabled)
    w.write([copy])
    assert count(store, MediaSignalBlock) == 0
    assert count(store, CrawlSeen) == 1


def test_a_crawl_keeps_clean_hosts_compactly(http, crawler) -> None:
    """End to end, with the default layout: a clean site's pictures leave no sighting, their
    URLs are seen on their host, their signals kept, their count per day."""
    from loopback import html, synthetic_png

    for i in range(5):
        http.add(f"/img/{i}.png", synthetic_png(i + 1), content_type="image/png")
    http.add("/", html(*(f'<img src="/img/{i}.png">' for i in range(5))))
    run = crawler.run(http.url("/"), ORBWEAVER_CRAWL_UNMATCHED="compact")
    assert run.returncode == 0, run.stderr + run.log
    store = crawler.store()
    assert count(store, Sighting) == 0 and count(store, Media) == 0
    with store.session() as s:
        urls = [http.url(f"/img/{i}.png") for i in range(5)]
        host = s.scalars(sa.select(CrawlSeen.host)).first()
        assert host is not None
        assert seen_urls(s, host, urls, clock_start()) == set(urls)
        assert len(list(iter_signals(s))) == 5
        assert sum(s.scalars(sa.select(CrawlHostDay.unmatched))) == 5


def clock_start():
    from datetime import UTC, datetime

    return datetime(2000, 1, 1, tzinfo=UTC)


def test_a_rolled_back_promotion_is_promoted_again(store, clock, monkeypatch) -> None:
    """The batch that promotes a compactly kept media fails after the promotion: the limbo is
    as it was, and the retried batch writes the suspect's full rows again."""
    import orbweaver.crawl.writer as writer_module

    match = entry(store, clock.now())
    w = writer(store, clock)
    w.write([item("bad.test", "early")])
    real = writer_module.record_event
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("store went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(writer_module, "record_event", failing)
    with pytest.raises(RuntimeError):
        w.write([item("bad.test", "known", match)])
    w.write([item("bad.test", "known", match)])
    with store.session() as s:
        rows = s.execute(sa.select(Sighting.url).join(Suspect, Suspect.sighting_id == Sighting.id))
        assert [url for (url,) in rows] == ["http://bad.test/img/early.jpg"]


def test_a_recrawl_does_not_refetch_media_seen_before(http, crawler) -> None:
    """A re-crawled page's pictures seen unmatched on their host (`crawl_seen`) are not fetched
    again, so nothing about them is written again (signals, seen rows, counts); a picture new
    on the page is. Without a JOBDIR the frontier's own seen-set does not outlive a run: only
    the store's record can tell."""
    from loopback import html, synthetic_png

    for i in range(4):
        http.add(f"/img/{i}.png", synthetic_png(i + 1), content_type="image/png")
    http.add("/", html(*(f'<img src="/img/{i}.png">' for i in range(3))))
    env = {"ORBWEAVER_CRAWL_UNMATCHED": "compact"}
    run = crawler.run(http.url("/"), "--no-jobdir", "--recrawl-every", "1", **env)
    assert run.returncode == 0, run.stderr + run.log
    store = crawler.store()

    def written() -> tuple[int, int, int]:
        with store.session() as s:
            return (
                len(list(iter_signals(s))),
                sum(s.scalars(sa.select(CrawlSeen.n))),
                sum(s.scalars(sa.select(CrawlHostDay.fetched))),
            )

    assert written() == (3, 3, 3)
    http.add("/", html(*(f'<img src="/img/{i}.png">' for i in range(4))))  # one new picture
    time.sleep(1.5)  # the page falls due (the schedule is in the crawler's real clock)
    run = crawler.run("--no-jobdir", "--recrawl-every", "3600", **env)
    assert run.returncode == 0, run.stderr + run.log
    with store.session() as s:
        assert s.scalars(sa.select(CrawlPage.crawl_count)).one() == 2  # the page was re-crawled
    assert {u: http.hits[u] for u in (f"/img/{i}.png" for i in range(4))} == {
        "/img/0.png": 1,
        "/img/1.png": 1,
        "/img/2.png": 1,
        "/img/3.png": 1,
    }
    assert written() == (4, 4, 4)  # only the new picture's


def video_item(host: str, name: str, match: Match | None = None) -> MediaItem:
    """A video's item: its vPDQ in `extra`, three frames."""
    from orbweaver.signals import VpdqFeature, format_vpdq

    frames = [VpdqFeature(_hex(f"{name}f{i}", 64), 80, float(i)) for i in range(3)]
    base = item(host, name, match)
    base.signals = MediaSignals(
        sha256=base.signals.sha256,
        sha1=base.signals.sha1,
        md5=base.signals.md5,
        size_bytes=5000,
        mime_type="video/mp4",
        extra={"vpdq": format_vpdq(frames)},
        duration=3.0,
    )
    return base


def test_every_video_keeps_its_vpdq_frames_whatever_its_layout(store, clock) -> None:
    """Issue 16: crawled videos kept no vPDQ (the compact record holds exact hashes and one
    PDQ; the media row has no vPDQ), so a grown video list could not be matched against them."""
    from orbweaver.store import find_video, iter_videos

    match = entry(store, clock.now())
    w = writer(store, clock)
    w.write([video_item("clean.test", "v1"), item("clean.test", "pic")])  # compact
    w.write([video_item("bad.test", "v2", match), video_item("bad.test", "v3")])  # full rows
    with store.session() as s:
        kept = {v.sha256_prefix.hex(): v for v in iter_videos(s)}
        assert set(kept) == {_hex(n, 32) for n in ("v1", "v2", "v3")}
        v1 = find_video(s, _hex("v1", 64))
        assert v1 is not None
        assert [f[0] for f in v1.frames] == [_hex(f"v1f{i}", 64) for i in range(3)]
        assert [(f[1], f[2]) for f in v1.frames] == [(80, 0.0), (80, 1.0), (80, 2.0)]


def test_a_crawled_video_is_matched_when_the_list_grows(http, crawler) -> None:
    """End to end: a clean site's videos, crawled before any list knows them, keep their vPDQ
    frames; when the list gains the original, the kept trimmed copy matches it, the unrelated
    video does not."""
    from orbweaver.signals import VPDQ, VpdqFeature, compute_signals, format_vpdq
    from orbweaver.sim.videos import SyntheticVideo, VideoVariant, render_video
    from orbweaver.store import iter_videos

    known = SyntheticVideo(seed=81, seconds=4.0, fps=8, width=192, height=144)
    other = SyntheticVideo(seed=82, seconds=3.0, fps=8, width=192, height=144)
    http.add("/v/a.mp4", render_video(known, VideoVariant("trim", trim_s=1.0)))
    http.add("/v/b.mp4", render_video(other))
    http.add("/", html('<video src="/v/a.mp4"></video>', '<a href="/v/b.mp4">b</a>'))
    run = crawler.run(http.url("/"), ORBWEAVER_CRAWL_UNMATCHED="compact", timeout=300)
    assert run.returncode == 0, run.stderr[-2000:] + run.log[-3000:]
    store = crawler.store()
    assert count(store, Sighting) == 0
    listed = compute_signals(render_video(known)).extra["vpdq"]  # the list grows
    with store.session() as s:
        kept = list(iter_videos(s))
    assert len(kept) == 2
    verdicts = sorted(
        VPDQ.compare(format_vpdq([VpdqFeature(*f) for f in v.frames]), listed).is_match
        for v in kept
    )
    assert verdicts == [False, True]


def html(*parts: str) -> str:
    from loopback import html as page

    return page(*parts)
