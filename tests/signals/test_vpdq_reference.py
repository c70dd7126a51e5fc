"""Conformance with the reference vPDQ (ThreatExchange's `vpdq` package, the `[vpdq-ref]` extra):
each of our frames within PDQ distance 16 of the reference's frame at the same timestamp for at
least 95% of frames, and the same match verdicts on transformed copies.

The reference is built from source against the FFmpeg development packages and is a test oracle
only; without it these tests are skipped, saying so.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orbweaver.signals import VpdqFeature, compare_vpdq, hash_video
from orbweaver.signals.pdq import hamming
from orbweaver.sim.videos import NEAR_DUPLICATES, SyntheticVideo, render_video

vpdq = pytest.importorskip(
    "vpdq",
    reason="the reference vpdq package is not installed (pip install -e '.[vpdq-ref]' with "
    "libavcodec-dev libavformat-dev libswscale-dev libavutil-dev libavdevice-dev cmake)",
)


MATROSKA = b"\x1a\x45\xdf\xa3"


def reference(path: Path) -> list[VpdqFeature]:
    return [
        VpdqFeature(f.hex, f.quality, round(f.timestamp, 3))
        for f in vpdq.computeHash(str(path), seconds_per_hash=1.0)
    ]


@pytest.mark.parametrize("container", ["mp4", "webm", "mkv", "avi", "mov", "ts"])
def test_frames_agree_with_the_reference(container: str, tmp_path: Path) -> None:
    data = render_video(SyntheticVideo(seed=41, seconds=6.0, fps=10, container=container))
    path = tmp_path / f"clip.{container}"
    path.write_bytes(data)
    theirs = {f.timestamp: f for f in reference(path)}
    ours = hash_video(data).features
    assert [f.timestamp for f in ours] == sorted(theirs)
    close = [hamming(f.pdq, theirs[f.timestamp].pdq) <= 16 for f in ours]
    assert sum(close) >= 0.95 * len(close)
    assert all(abs(f.quality - theirs[f.timestamp].quality) <= 10 for f in ours)


def test_match_verdicts_agree_with_the_reference(tmp_path: Path) -> None:
    video = SyntheticVideo(seed=42, seconds=5.0, fps=10)
    copies = {"orig": render_video(video)}
    copies |= {v.kind: render_video(video, v) for v in NEAR_DUPLICATES}
    copies["unrelated"] = render_video(SyntheticVideo(seed=43, seconds=5.0, fps=10))
    ours, theirs = {}, {}
    for name, data in copies.items():
        suffix = "webm" if data.startswith(MATROSKA) else "mp4"
        path = tmp_path / f"{name}.{suffix}"
        path.write_bytes(data)
        ours[name] = list(hash_video(data).features)
        theirs[name] = reference(path)
    for name in copies:
        verdict = compare_vpdq(ours[name], ours["orig"]).is_match
        assert verdict == compare_vpdq(theirs[name], theirs["orig"]).is_match, name
        assert verdict == (name != "unrelated")
