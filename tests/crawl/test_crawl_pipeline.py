"""End to end against loopback servers: pages → media → signals → matches → store rows."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
import sqlalchemy as sa
from loopback import LoopbackDNS, LoopbackHTTP, html, synthetic_jpeg, synthetic_png
from rar4 import rar4

from orbweaver.banks import create_bank, import_csv
from orbweaver.clock import SystemClock
from orbweaver.store.models import CrawlPage, Detection, Media, Sighting, Suspect
from orbweaver.store.vault import Vault


def known_bank(store, images: list[bytes]) -> None:
    clock = SystemClock()
    create_bank(store, clock, "known")
    rows = "signal_type,signal,category,source\n" + "".join(
        f"sha256,{hashlib.sha256(b).hexdigest()},csam_prepubescent,test\n" for b in images
    )
    import_csv(store, clock, "known", io.StringIO(rows))


@pytest.mark.parametrize("media_workers", ["0", "1"])
def test_site_to_sightings_detections_and_suspects(
    http: LoopbackHTTP, crawler, media_workers: str
) -> None:
    """Media fetched inside the page crawl, or by a media worker (issue 15): the same rows."""
    known, other, poster, css, og, linked, srcset = (synthetic_png(i) for i in range(1, 8))
    video_like = synthetic_jpeg(9)
    for path, body in {
        "/img/known.png": known,
        "/img/other.php": other,  # sniffed by bytes, not by extension
        "/img/poster.jpg": poster,
        "/img/bg.png": css,
        "/img/og.png": og,
        "/img/big.png": linked,
        "/img/small-2x.png": srcset,
        "/img/clip.jpg": video_like,
    }.items():
        http.add(path, body, content_type="application/octet-stream")
    http.add("/next.html", html('<img src="/img/known.png"><a href="/">home</a>'))
    index = html(
        '<meta property="og:image" content="/img/og.png">',
        '<img src="/img/known.png" srcset="/img/small-1x.png 1x, /img/small-2x.png 2x">',
        '<img src="/img/other.php">',
        '<video src="/img/clip.jpg" poster="/img/poster.jpg"></video>',
        "<div style=\"background: url('/img/bg.png')\">x</div>",
        '<a href="/img/big.png">big</a> <a href="/next.html">next</a>',
    )
    http.add("/", index.replace("<html>", "<html><head></head>"))
    store = crawler.store()
    known_bank(store, [known])

    run = crawler.run(http.url("/"), "--media-workers", media_workers)
    assert run.returncode == 0, run.stderr + run.log
    assert ("media: 1 worker process" in run.log) == (media_workers == "1")

    with store.session() as s:
        urls = set(s.scalars(sa.select(Sighting.url)))
        assert {
            http.url(p)
            for p in (
                "/img/known.png",
                "/img/other.php",
                "/img/poster.jpg",
                "/img/bg.png",
                "/img/og.png",
                "/img/big.png",
                "/img/small-2x.png",
                "/img/clip.jpg",
            )
        } <= urls
        detections = s.execute(sa.select(Detection, Sighting).join(Sighting)).all()
        assert len(detections) == 1
        det, sighting = detections[0]
        assert sighting.url == http.url("/img/known.png")
        assert sighting.page_url == http.url("/")
        assert det.category == "csam_prepubescent" and det.signal_type == "sha256"
        # known.png is linked twice but fetched once
        assert http.hits["/img/known.png"] == 1
        suspects = s.scalars(sa.select(Suspect)).all()
        # every other picture is on the host with a detection: all suspects, sealed
        assert len(suspects) == len(urls) - 1
        key = crawler.env["ORBWEAVER_SUSPECT_KEY"]
        one = suspects[0]
        media = s.get(Media, one.media_id)
        assert one.ciphertext is not None
        opened = Vault(key).open(one.ciphertext, context=media.sha256.encode())
        assert hashlib.sha256(opened).hexdigest() == media.sha256
        assert media.pdq is not None and media.mime_type == "image/png"
        page = s.scalar(sa.select(CrawlPage).where(CrawlPage.url == http.url("/")))
        assert page is not None and page.next_crawl_at is not None
    assert http.hits["/img/small-1x.png"] == 1  # 404 logged, crawl went on
    assert "fetch failed" in run.log or "404" in run.log


def test_suspects_need_a_key_and_hosts_without_detections_keep_nothing(
    http: LoopbackHTTP, crawler
) -> None:
    """Names resolve through the configured DNS server: a.test has a detection, b.test none."""
    known, a_other, b_img = synthetic_png(11), synthetic_png(12), synthetic_png(13)
    http.add("/k.png", known, content_type="image/png")
    http.add("/a.png", a_other, content_type="image/png")
    http.add("/b.png", b_img, content_type="image/png")
    dns = LoopbackDNS({"a.test": ["127.0.0.1"], "b.test": ["127.0.0.1"]})
    try:
        port = http.port
        http.add(
            "/",
            html(
                f'<img src="http://a.test:{port}/k.png"><img src="http://a.test:{port}/a.png">',
                f'<a href="http://b.test:{port}/page">b</a>',
            ),
        )
        http.add("/page", html(f'<img src="http://b.test:{port}/b.png">'))
        store = crawler.store()
        known_bank(store, [known])
        run = crawler.run(
            f"http://a.test:{port}/", ORBWEAVER_DNS_SERVERS=dns.server, ORBWEAVER_SUSPECT_KEY=""
        )
        assert run.returncode == 0, run.stderr + run.log
        assert "a.test" in dns.queries
    finally:
        dns.stop()
    with store.session() as s:
        rows = {u: h for u, h in s.execute(sa.select(Sighting.url, Sighting.host))}
        assert rows[f"http://b.test:{port}/b.png"] == "b.test"
        assert s.scalar(sa.select(sa.func.count()).select_from(Detection)) == 1
        assert s.scalar(sa.select(sa.func.count()).select_from(Suspect)) == 0
    assert "not kept: no ORBWEAVER_SUSPECT_KEY" in run.log


def test_listings_and_report(http: LoopbackHTTP, crawler) -> None:
    import subprocess

    img = synthetic_png(21)
    http.add("/i.png", img, content_type="image/png")
    http.add("/", html('<img src="/i.png">'))
    store = crawler.store()
    known_bank(store, [img])
    env = crawler.environ()
    done = subprocess.run(
        crawler.command("report", http.url("/"), "--reporter", "tipline"),
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "recorded 1 new report" in done.stdout
    run = crawler.run()  # no URL: the pending report is the seed
    assert run.returncode == 0, run.stderr
    out = subprocess.run(
        crawler.command("detections", "--json"), env=env, capture_output=True, text=True, check=True
    ).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows and rows[0]["url"] == http.url("/i.png") and rows[0]["bank"] == "known"
    out = subprocess.run(
        crawler.command("sightings", "--json"), env=env, capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out.splitlines()[0])["sha256"] == hashlib.sha256(img).hexdigest()


@pytest.mark.parametrize("media_workers", ["0", "1"])
def test_rar_archive_members_become_sightings_of_the_archive(
    http: LoopbackHTTP, crawler, media_workers: str
) -> None:
    known, other = synthetic_png(21), synthetic_png(22)
    http.add(
        "/files/pack.rar",
        rar4({"set/known.png": known, "set/other.png": other}),
        content_type="application/octet-stream",
    )
    http.add("/", html('<p>new set</p><a href="/files/pack.rar">download</a>'))
    store = crawler.store()
    known_bank(store, [known])

    run = crawler.run(http.url("/"), "--media-workers", media_workers)
    assert run.returncode == 0, run.stderr + run.log

    with store.session() as s:
        rows = s.execute(
            sa.select(Sighting.url, Sighting.archive_url, Sighting.member_path).order_by(
                Sighting.member_path
            )
        ).all()
        archive = http.url("/files/pack.rar")
        assert [tuple(r) for r in rows] == [
            (archive, archive, "set/known.png"),
            (archive, archive, "set/other.png"),
        ]
        (det,) = s.scalars(sa.select(Detection)).all()
        assert s.get(Sighting, det.sighting_id).member_path == "set/known.png"


@pytest.mark.parametrize("processes", ["0", "1"])
def test_hashing_in_threads_or_workers_records_the_same(
    http: LoopbackHTTP, crawler, processes: str
) -> None:
    """`--hash-processes 0` keeps hashing in the crawler's threads (small machines, tests);
    either way a broken picture is recorded by its exact hashes and the rest are matched."""
    known, other = synthetic_png(31), synthetic_jpeg(32)
    broken = synthetic_jpeg(33)[:200]
    for path, body in {"/k.png": known, "/o.jpg": other, "/b.jpg": broken}.items():
        http.add(path, body, content_type="image/jpeg")
    http.add("/", html('<img src="/k.png"><img src="/o.jpg"><img src="/b.jpg">'))
    store = crawler.store()
    known_bank(store, [known])

    run = crawler.run(http.url("/"), "--hash-processes", processes, "--log-level", "INFO")
    assert run.returncode == 0, run.stderr + run.log
    assert ("hashing in 1 worker process" in run.log) == (processes == "1")
    assert f"media {http.url('/b.jpg')} not decoded" in run.log

    with store.session() as s:
        media = {m.sha256: m for m in s.scalars(sa.select(Media))}
        assert {hashlib.sha256(b).hexdigest() for b in (known, other, broken)} == set(media)
        assert media[hashlib.sha256(broken).hexdigest()].pdq is None
        assert media[hashlib.sha256(other).hexdigest()].pdq is not None
        (det,) = s.scalars(sa.select(Detection)).all()
        assert s.get(Sighting, det.sighting_id).url == http.url("/k.png")
