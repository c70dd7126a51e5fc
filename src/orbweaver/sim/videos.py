"""Synthetic videos: moving shapes and a caption over abstract scenes, encoded with PyAV.

Safety rule as for pictures (media.py): every frame is abstract (the world's gradient-and-shapes
pictures, a moving disc, a caption). "Known" is a label the world attaches elsewhere.

A video is a pure function of its `SyntheticVideo` and `VideoVariant`, so nothing is stored:
the scene changes every `scene_s` seconds (one of media.py's pictures), a disc crosses it and
the caption counts the frames. Near-duplicates re-encode (another codec and bitrate), resize,
trim the start or crop the border: their bytes differ entirely, their sampled frames stay within
PDQ distance 31 of the original's, so only vPDQ links them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from orbweaver.sim.media import Picture, Variant, VideoHooks, register_video_hooks, render_pixels

CONTAINERS = {
    "mp4": "video/mp4",
    "webm": "video/webm",
    "mkv": "video/x-matroska",
    "avi": "video/x-msvideo",
    "mov": "video/quicktime",
    "ts": "video/mp2t",
}
EXTENSIONS = {"mp4": "mp4", "webm": "webm", "mkv": "mkv", "avi": "avi", "mov": "mov", "ts": "ts"}
VARIANT_KINDS = ("orig", "reencode", "resize", "trim", "crop")
_FORMATS = {
    "mp4": "mp4",
    "webm": "webm",
    "mkv": "matroska",
    "avi": "avi",
    "mov": "mov",
    "ts": "mpegts",
}


@dataclass(frozen=True)
class SyntheticVideo:
    """The identity of one synthetic video, before any encoding."""

    seed: int
    width: int = 320
    height: int = 240
    seconds: float = 4.0
    fps: int = 12
    container: str = "mp4"
    scene_s: float = 1.5


@dataclass(frozen=True)
class VideoVariant:
    """How one copy was made: the original, or a near-duplicate transformation."""

    kind: str = "orig"
    container: str | None = None  # None keeps the video's own
    scale: float = 1.0  # resize
    trim_s: float = 0.0  # seconds cut from the start
    crop: float = 0.0  # share of each side cut away
    crf: int = 23  # quality of the re-encode (higher: worse)


ORIGINAL = VideoVariant()

NEAR_DUPLICATES = (
    VideoVariant("reencode", container="webm", crf=40),
    VideoVariant("resize", scale=0.6),
    VideoVariant("trim", trim_s=1.0),
    VideoVariant("crop", crop=0.01),
)
"""One of each kind the tests and the world use."""


@lru_cache(maxsize=64)
def _scene(seed: int, index: int, width: int, height: int) -> np.ndarray:
    picture = Picture(seed * 7919 + index, width, height, "png")
    return np.asarray(render_pixels(picture).convert("RGB"))


def frame_pixels(video: SyntheticVideo, n: int) -> Image.Image:
    """Frame `n` of the original: its scene, a disc crossing it, and a caption."""
    t = n / video.fps
    scene = int(t // video.scene_s)
    img = Image.fromarray(_scene(video.seed, scene, video.width, video.height))
    draw = ImageDraw.Draw(img)
    phase = (t % video.scene_s) / video.scene_s
    r = max(4, video.height // 12)
    x = int(r + phase * (video.width - 2 * r))
    y = video.height // 2
    draw.ellipse((x - r, y - r, x + r, y + r), fill=(250, 250, 250), outline=(0, 0, 0))
    draw.text(
        (8, video.height - 20),
        f"sim video {video.seed % 100000:05d} f{n:04d}",
        fill=(255, 255, 255),
    )
    return img


def _transform(img: Image.Image, variant: VideoVariant) -> Image.Image:
    if variant.crop:
        dx, dy = int(img.width * variant.crop), int(img.height * variant.crop)
        img = img.crop((dx, dy, img.width - dx, img.height - dy))
    if variant.scale != 1.0:
        size = (_even(img.width * variant.scale), _even(img.height * variant.scale))
        img = img.resize(size, Image.Resampling.BILINEAR)
    elif variant.crop:
        img = img.resize((_even(img.width), _even(img.height)), Image.Resampling.BILINEAR)
    return img


def _even(value: float) -> int:
    return max(16, int(value) // 2 * 2)


def render_video(video: SyntheticVideo, variant: VideoVariant = ORIGINAL) -> bytes:
    """The bytes of one copy of the video (deterministic for a given PyAV build)."""
    container = variant.container or video.container
    first = round(variant.trim_s * video.fps)
    total = round(video.seconds * video.fps)
    frames = [_transform(frame_pixels(video, n), variant) for n in range(first, total)]
    return encode_frames(frames, video.fps, container, crf=variant.crf)


def encode_frames(frames: list[Image.Image], fps: int, container: str, *, crf: int = 23) -> bytes:
    """Encode RGB frames into `container` with the codec that container usually carries."""
    import av

    out = io.BytesIO()
    # bitexact: no random segment id or wall-clock date in the header (Matroska/WebM), so a
    # copy's bytes, and its sha256 in the world's list, are the same on every render
    with av.open(
        out, mode="w", format=_FORMATS[container], options={"fflags": "+bitexact"}
    ) as output:
        stream: Any = output.add_stream(_codec(container), rate=fps)
        stream.width, stream.height = frames[0].width, frames[0].height
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, fps)
        stream.options = _options(container, crf)
        # one encoding thread: libvpx's threads made each render's bytes differ (and, on a
        # busy machine, took 15× longer on these small frames)
        stream.codec_context.thread_count = 1
        for n, img in enumerate(frames):
            frame = av.VideoFrame.from_image(img)
            frame.pts = n
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return out.getvalue()


def _codec(container: str) -> str:
    if container == "webm":
        return "libvpx"
    if container == "avi":
        return "mpeg4"
    return _h264()


@lru_cache(maxsize=1)
def _h264() -> str:
    import av

    for name in ("libx264", "libopenh264", "h264"):
        try:
            av.codec.Codec(name, "w")
        except Exception:
            continue
        return name
    return "mpeg4"


def _options(container: str, crf: int) -> dict[str, str]:
    if container == "webm":
        # "realtime" decides by the wall clock: bytes that differ from one render to the next
        return {"crf": str(crf), "b": "0", "deadline": "good", "cpu-used": "8"}
    if _codec(container) == "libx264":
        return {"crf": str(crf), "preset": "veryfast"}
    return {}


WORLD_SECONDS = 4.0
WORLD_FPS = 8


def world_video(picture: Picture) -> SyntheticVideo:
    """The video a world `Picture` in a video format stands for: short and small, so a world
    with videos costs little more to serve and crawl than one with pictures."""
    return SyntheticVideo(
        seed=picture.seed,
        width=picture.width,
        height=picture.height,
        seconds=WORLD_SECONDS,
        fps=WORLD_FPS,
        container=picture.fmt,
    )


def render_world_video(picture: Picture, variant: Variant) -> bytes:
    """The bytes of one copy of a world video (media.render's video branch)."""
    crf = 23 if variant.kind in ("orig", "same") else variant.quality
    return render_video(
        world_video(picture),
        VideoVariant(
            variant.kind,
            container=variant.fmt,
            scale=variant.scale,
            trim_s=variant.trim_s,
            crop=variant.crop,
            crf=crf if variant.kind == "reencode" else 23,
        ),
    )


def vpdq_text(data: bytes, interval: float = 1.0) -> str:
    """The world's own vPDQ of a video (its hash list's entry): the reference's sampling (frame
    n when n % int(interval·fps) == 0, timestamp n/fps), `pdqhash` on each sampled frame, in
    python-threatexchange's text form. Independent of the product's hashing, as a hotline's
    list would be."""
    import json

    import av
    import pdqhash

    features = []
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 25)
        every = max(1, int(interval * fps))
        for n, frame in enumerate(container.decode(stream)):
            if n % every:
                continue
            bits, quality = pdqhash.compute(frame.to_ndarray(format="rgb24"))
            pdq = np.packbits(bits.astype(np.uint8)).tobytes().hex()
            features.append(f"{pdq},{int(quality)},{n / fps:.3f}")
    return json.dumps(features, separators=(",", ":"))


register_video_hooks(VideoHooks(render_world_video, vpdq_text))
