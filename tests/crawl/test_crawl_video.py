"""Videos in the crawl (issue 16): `<video>`, `<source>`, links and archive members are hashed
with vPDQ and matched against a bank video; bad videos are clear log lines and the crawl goes on.

Every video is synthetic (orbweaver.sim.videos), rendered here, a few seconds long.
"""

from __future__ import annotations

import csv
import io
import zipfile
from http.server import BaseHTTPRequestHandler

import pytest
import sqlalchemy as sa
from loopback import LoopbackHTTP, html

from orbweaver.banks import create_bank, import_csv
from orbweaver.clock import SystemClock
from orbweaver.signals import compute_signals
from orbweaver.sim.videos import NEAR_DUPLICATES, SyntheticVideo, VideoVariant, render_video
from orbweaver.store.models import Detection, Media, Sighting

KNOWN = SyntheticVideo(seed=71, seconds=4.0, fps=8, width=192, height=144)


def video_bank(store) -> None:
    clock = SystemClock()
    create_bank(store, clock, "known")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["signal_type", "signal", "category", "source"])
    vpdq = compute_signals(render_video(KNOWN)).extra["vpdq"]
    writer.writerow(["vpdq", vpdq, "csam_prepubescent", "test"])
    assert not import_csv(store, clock, "known", io.StringIO(out.getvalue())).errors


def endless_stream(chunk: bytes, declared: int | None):
    """A video that never ends (a live MPEG-TS stream), or declares 4 GB and sends them."""

    def handle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "video/mp2t" if declared is None else "video/mp4")
        if declared is None:
            h.send_header("Transfer-Encoding", "chunked")
        else:
            h.send_header("Content-Length", str(declared))
        h.end_headers()
        try:
            for _ in range(100_000):
                if declared is None:
                    h.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                else:
                    h.wfile.write(chunk)
        except OSError:
            return  # the crawler hung up: what it should do

    return handle


def zipped(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize("media_workers", ["0", "1"])
def test_videos_are_found_matched_and_bad_ones_logged(
    http: LoopbackHTTP, crawler, media_workers: str
) -> None:
    reencoded, resized, trimmed, cropped = (render_video(KNOWN, v) for v in NEAR_DUPLICATES)
    unrelated = render_video(SyntheticVideo(seed=72, seconds=3.0, fps=8, width=192, height=144))
    ts = render_video(SyntheticVideo(seed=73, seconds=2.0, fps=8, container="ts"))
    mkv = render_video(KNOWN, VideoVariant("reencode", container="mkv", crf=30))
    for path, body in {
        "/v/clip.bin": resized,  # sniffed by bytes, not by extension
        "/v/clip.webm": reencoded,
        "/v/copy.mkv": mkv,
        "/v/other.mp4": unrelated,
        "/v/cropped.mp4": cropped,
        "/v/broken.mp4": render_video(KNOWN)[:3000],
        "/v/pack.zip": zipped("set/trimmed.mp4", trimmed),
    }.items():
        http.add(path, body, content_type="application/octet-stream")
    http.add("/v/live.ts", handler=endless_stream(ts, None))
    http.add("/v/huge.mp4", handler=endless_stream(render_video(KNOWN), 4 * 1024**3))
    http.add(
        "/",
        html(
            '<video src="/v/clip.bin"></video>',
            '<video controls><source src="/v/clip.webm" type="video/webm"></video>',
            '<a href="/v/copy.mkv">mkv</a> <a href="/v/other.mp4">other</a>',
            '<video src="/v/cropped.mp4"></video> <a href="/v/broken.mp4">broken</a>',
            '<a href="/v/pack.zip">pack</a>',
            '<video src="/v/live.ts"></video> <a href="/v/huge.mp4">huge</a>',
        ),
    )
    store = crawler.store()
    video_bank(store)

    run = crawler.run(
        http.url("/"),
        "--media-workers",
        media_workers,
        "--timeout",
        "20",
        timeout=300,
        ORBWEAVER_MAX_IMAGE_BYTES=str(8 * 1024 * 1024),
    )
    log = run.log
    assert run.returncode == 0, run.stderr[-2000:] + log[-3000:]
    with store.session() as s:
        found = s.execute(
            sa.select(Sighting.url, Sighting.member_path, Detection.signal_type).join(
                Detection, Detection.sighting_id == Sighting.id
            )
        ).all()
        detected = {(url.rsplit("/", 1)[-1], member, kind) for url, member, kind in found}
        assert detected == {
            ("clip.bin", None, "vpdq"),
            ("clip.webm", None, "vpdq"),
            ("copy.mkv", None, "vpdq"),
            ("cropped.mp4", None, "vpdq"),
            ("pack.zip", "set/trimmed.mp4", "vpdq"),
        }, detected
        other = s.scalar(
            sa.select(Media).join(Sighting).where(Sighting.url == http.url("/v/other.mp4"))
        )
        assert other is not None and other.mime_type == "video/mp4" and other.pdq is None
        urls = set(s.scalars(sa.select(Sighting.url)))
    assert http.url("/v/broken.mp4") in urls  # recorded by its exact hashes
    assert "broken video" in log and "recorded by exact hashes only" in log
    assert http.url("/v/live.ts") not in urls and http.url("/v/huge.mp4") not in urls
    for big in ("/v/live.ts", "/v/huge.mp4"):  # refused by the download cap, never read whole
        line = next(x for x in log.splitlines() if http.url(big) in x and "WARNING" in x)
        assert any(
            words in line for words in ("larger than", "download max size", "response size")
        ), line
        assert http.hits[big] == 1


def test_video_caps_come_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from orbweaver.roles import ProductSettings, build_crawl_options

    monkeypatch.setenv("ORBWEAVER_VIDEO_MAX_DURATION_S", "2.5")
    monkeypatch.setenv("ORBWEAVER_VIDEO_MAX_FRAMES", "900")
    monkeypatch.setenv("ORBWEAVER_VIDEO_MAX_DECODE_S", "7")
    limits = build_crawl_options(ProductSettings.load()).video_limits
    assert (limits.max_duration_s, limits.max_frames, limits.max_decode_s) == (2.5, 900, 7.0)
    assert limits.decode_threads == 1  # the hashing workers are the parallelism


def test_the_crawl_applies_the_configured_caps_and_goes_on(http: LoopbackHTTP, crawler) -> None:
    """Caps set in the environment reach the hashing workers: a video longer than the
    configured duration and a flood of tiny frames are each one clear log line, kept by exact
    hashes; the crawl goes on and hashes the video under the caps."""
    from PIL import Image

    from orbweaver.sim.videos import encode_frames
    from orbweaver.store import iter_videos

    tiny = [Image.new("RGB", (16, 16), (i % 256, 0, 0)) for i in range(600)]
    http.add("/v/long.mp4", render_video(KNOWN))  # 4 s
    http.add("/v/flood.ts", encode_frames(tiny, 1000, "ts"))  # 100,000 frames in 100 s
    http.add("/v/short.mp4", render_video(SyntheticVideo(seed=74, seconds=2.0, fps=8)))
    http.add(
        "/", html(*(f'<video src="/v/{n}"></video>' for n in ("long.mp4", "flood.ts", "short.mp4")))
    )
    run = crawler.run(
        http.url("/"),
        timeout=300,
        ORBWEAVER_VIDEO_MAX_DURATION_S="3",
        ORBWEAVER_CRAWL_UNMATCHED="full",
    )
    assert run.returncode == 0, run.stderr[-2000:] + run.log[-3000:]
    lines = run.log.splitlines()
    long_line = next(x for x in lines if http.url("/v/long.mp4") in x and "exceeds" in x)
    assert "duration 4 s exceeds the cap of 3 s" in long_line, long_line
    assert any(http.url("/v/flood.ts") in x and "frame rate" in x for x in lines), [
        x for x in lines if "flood" in x
    ]
    store = crawler.store()
    with store.session() as s:
        urls = set(s.scalars(sa.select(Sighting.url)))
        kept = list(iter_videos(s))
    assert {http.url(f"/v/{n}") for n in ("long.mp4", "flood.ts", "short.mp4")} <= urls
    assert len(kept) == 1 and len(kept[0].frames) == 2  # only the short one has a vPDQ
