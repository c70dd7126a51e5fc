"""Decoding untrusted videos into the few frames vPDQ hashes, with PyAV, under hard caps.

vPDQ (ThreatExchange's `vpdq`) hashes one frame every `interval` seconds: with a frame rate `fps`
(the stream's average rate, else its real base rate), frame `n` is hashed when
`n % max(1, int(interval * fps)) == 0`, and its timestamp is `n / fps`. The reference counts
decoded frames; here `n` comes from the frame's presentation time (the same number on a
constant-rate video, and still right after a seek), falling back to counting when a frame has
no time.

What makes it cheap, and what it still costs:
- only the sampled frames are converted: their luma is the decoder's own Y plane, used in place
  (no RGB conversion, no copy), and PDQ's 64×64 grid is two matrix products over it (pdq.py);
  a limited-range ("TV") Y is brought to full range by scaling the grid, which is linear, so
  hash and quality are what the reference computes from its RGB frame up to rounding;
- the decoder runs frame- and slice-threaded, as the reference's does (and BLAS on one thread:
  its spinning threads beside FFmpeg's made the grid products twenty times slower);
- frames before the next sample that no other frame refers to (most B-frames) are not decoded
  at all (`skip_frame` NONREF until the sample's packet): on x264's defaults that is about a
  third of the frames, and more than half of the decoding time;
- frames between two samples are decoded only as far as the codec needs them: when the
  interval spans more than `SEEK_MIN_S`, the demuxer seeks to the keyframe before the next
  sample instead of decoding everything in between. Codecs whose decoder has no reduced-size
  output (H.264, VP9, AV1) are decoded at full size: PDQ would allow a 256-pixel side, FFmpeg
  does not offer it for them.

Hostile input is refused with a SignalError naming the cap: containers outside the allow-list,
frames over `max_pixels`, decoding longer than `max_decode_s` of wall clock, a declared or
decoded duration over `max_duration_s` (an endless live stream), more decoded frames than
`max_frames` or a frame rate over `max_fps` (100,000 tiny frames), and anything FFmpeg cannot
demux or decode (a corrupt container).
"""

from __future__ import annotations

import io
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from orbweaver.signals.blas import limit_blas_threads
from orbweaver.signals.errors import SignalError
from orbweaver.signals.pdq import pdq_from_grid, pdq_grid

if TYPE_CHECKING:
    from orbweaver.config import Settings
    from orbweaver.signals.types.vpdq import VpdqFeature

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 1.0
"""Seconds between hashed frames (the reference's `seconds_per_hash`)."""
SEEK_MIN_S = 2.0
"""Sampling intervals at least this long seek to the next sample instead of decoding through."""

ALLOWED_CONTAINERS = frozenset({"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi", "mpegts"})
"""FFmpeg demuxers allowed to parse untrusted bytes (MP4/MOV, Matroska/WebM, AVI, MPEG-TS)."""

_TV_RANGE = 255.0 / 219.0
_FULL_RANGE_FORMATS = frozenset({"yuvj420p", "yuvj422p", "yuvj444p", "gray"})
_Y_PLANE_FORMATS = frozenset(
    {"yuv420p", "yuv422p", "yuv444p", "yuvj420p", "yuvj422p", "yuvj444p", "nv12", "gray"}
)


@dataclass(frozen=True)
class VideoLimits:
    """Caps a video must stay under to be hashed (each refusal is a SignalError)."""

    max_duration_s: float = 3600.0
    """Declared or decoded length; an endless stream reaches it."""
    max_frames: int = 250_000
    """Frames decoded, sampled or not (a flood of tiny frames reaches it)."""
    max_pixels: int = 8192 * 4320
    """Width × height of a frame (8K)."""
    max_fps: float = 240.0
    """Frame rates above this are refused (100,000 frames in a few seconds)."""
    max_decode_s: float = 120.0
    """Wall-clock seconds one video may take to decode (a slow codec, a huge frame size)."""
    decode_threads: int = 0
    """FFmpeg decoding threads (0: its own choice, one per core). Processes that already run
    one per core (the crawl's hashing workers) use 1."""
    interval_s: float = DEFAULT_INTERVAL_S
    """Seconds between hashed frames when the caller names none (not a cap: it travels with
    the caps because every caller that hashes a video passes this object down)."""

    @classmethod
    def from_settings(cls, settings: Settings, *, decode_threads: int = 0) -> VideoLimits:
        """The caps a deployment set (`video_max_*`, `vpdq_interval_s`; TOML or environment)."""
        return cls(
            max_duration_s=settings.video_max_duration_s,
            max_frames=settings.video_max_frames,
            max_pixels=settings.video_max_pixels,
            max_fps=settings.video_max_fps,
            max_decode_s=settings.video_max_decode_s,
            decode_threads=decode_threads,
            interval_s=settings.vpdq_interval_s,
        )


@dataclass(frozen=True)
class VideoHash:
    """A video's vPDQ features and what the container said about it."""

    features: tuple[VpdqFeature, ...]
    duration: float
    width: int
    height: int
    fps: float
    container: str


def hash_video(
    source: bytes | Path,
    *,
    interval: float | None = None,
    limits: VideoLimits | None = None,
) -> VideoHash:
    """The vPDQ features of a video (bytes or a file), one frame every `interval` seconds
    (default: the limits' `interval_s`, one second); SignalError when it cannot be hashed."""
    import av

    limits = limits or VideoLimits()
    interval = limits.interval_s if interval is None else interval
    if not interval > 0:
        raise ValueError(f"interval must be positive, not {interval}")
    try:
        container = av.open(
            str(source) if isinstance(source, Path) else io.BytesIO(source),
            mode="r",
            timeout=10.0,
        )
    except av.FFmpegError as exc:
        raise SignalError(f"broken video: {_describe(exc)}") from exc
    try:
        return _hash_container(container, interval, limits)
    except av.FFmpegError as exc:
        raise SignalError(f"broken video: {_describe(exc)}") from exc
    finally:
        container.close()


def _hash_container(container: Any, interval: float, limits: VideoLimits) -> VideoHash:
    name = container.format.name
    if name not in ALLOWED_CONTAINERS:
        raise SignalError(f"not an allowed video container: {name}")
    if not container.streams.video:
        raise SignalError("no video stream")
    stream = container.streams.video[0]
    width, height = stream.codec_context.width, stream.codec_context.height
    _check_header(container, stream, width, height, limits)
    fps = _frame_rate(stream)
    if fps > limits.max_fps:
        raise SignalError(f"frame rate {fps:.0f}/s exceeds {limits.max_fps:.0f}/s")
    stream.thread_type = "AUTO"
    if limits.decode_threads:
        stream.thread_count = limits.decode_threads
    limit_blas_threads(1)  # FFmpeg's threads are the parallelism; spinning BLAS threads beside
    # them made the grid products 20 times slower on a busy machine
    sampler = _Sampler(fps, interval, limits)
    features = [_feature(frame, index, fps) for frame, index in sampler.frames(container, stream)]
    duration = max(_declared_duration(container, stream), sampler.last_time)
    return VideoHash(tuple(features), round(duration, 3), width, height, fps, name)


def _check_header(
    container: Any, stream: Any, width: int, height: int, limits: VideoLimits
) -> None:
    if width <= 0 or height <= 0:
        raise SignalError("video stream has no frame size")
    if width * height > limits.max_pixels:
        raise SignalError(f"frames of {width}x{height} exceed {limits.max_pixels} pixels")
    declared = _declared_duration(container, stream)
    if declared > limits.max_duration_s:
        raise SignalError(
            f"duration {declared:.0f} s exceeds the cap of {limits.max_duration_s:.0f} s"
        )


def _frame_rate(stream: Any) -> float:
    """The reference's rate: the average frame rate, else the real base rate."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            value = float(rate)
            if value > 0 and math.isfinite(value):
                return value
    raise SignalError("video frame rate is unknown")


def _declared_duration(container: Any, stream: Any) -> float:
    if stream.duration is not None and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration) / 1_000_000
    return 0.0


class _Sampler:
    """Walks the stream, yielding each sampled frame with its frame number, enforcing caps."""

    def __init__(self, fps: float, interval: float, limits: VideoLimits) -> None:
        self.fps = fps
        self.step = max(1, int(interval * fps))
        self.interval = interval
        self.limits = limits
        self.decoded = 0
        self.last_time = 0.0
        self.wanted = 0  # the next frame number to hash
        self.deadline = time.monotonic() + limits.max_decode_s

    def frames(self, container: Any, stream: Any) -> Iterator[tuple[Any, int]]:
        start = stream.start_time or 0
        base = stream.time_base or Fraction(1, 1)
        seek = self.interval >= SEEK_MIN_S
        while True:
            restarted = False
            for frame in self._decoded(container, stream, start, base):
                index = self._index(frame, start, base)
                if index < self.wanted:
                    continue
                yield frame, index
                self.wanted = (index // self.step + 1) * self.step
                if seek:
                    target = start + int(self.wanted / self.fps / base)
                    container.seek(target, stream=stream, backward=True)
                    restarted = True
                    break
            if not restarted:
                return

    def _decoded(self, container: Any, stream: Any, start: int, base: Fraction) -> Iterator[Any]:
        """Frames in presentation order. A packet whose frame comes before the next sample is
        decoded only if other frames refer to it (`skip_frame` NONREF: most B-frames are
        dropped unread); from the next sample on, everything is decoded."""
        context = stream.codec_context
        skipping = False
        for packet in container.demux(stream):
            early = (
                packet.pts is not None
                and round(float((packet.pts - start) * base) * self.fps) < self.wanted
            )
            if early != skipping:
                context.skip_frame = "NONREF" if early else "DEFAULT"
                skipping = early
            for frame in packet.decode():
                self.decoded += 1
                if self.decoded > self.limits.max_frames:
                    raise SignalError(f"more than {self.limits.max_frames} frames decoded")
                if time.monotonic() > self.deadline:
                    raise SignalError(
                        f"decoding took over {self.limits.max_decode_s:g} s ({self.decoded} frames)"
                    )
                yield frame
        context.skip_frame = "DEFAULT"

    def _index(self, frame: Any, start: int, base: Fraction) -> int:
        if frame.pts is None:
            index = self.decoded - 1
            seconds = index / self.fps
        else:
            seconds = float((frame.pts - start) * base)
            index = max(0, round(seconds * self.fps))
        self.last_time = max(self.last_time, seconds + 1 / self.fps)
        if seconds > self.limits.max_duration_s:
            raise SignalError(
                f"decoded past the duration cap of {self.limits.max_duration_s:.0f} s"
            )
        return index


def _feature(frame: Any, index: int, fps: float) -> VpdqFeature:
    from orbweaver.signals.types.vpdq import VpdqFeature

    pdq, quality = frame_pdq(frame)
    return VpdqFeature(pdq, quality, round(index / fps, 3))


def frame_pdq(frame: Any) -> tuple[str, int]:
    """PDQ hash and quality of a decoded frame, from its Y plane when it has one."""
    if frame.width < 5 or frame.height < 5:
        return "0" * 64, 0
    luma, full_range = _luma(frame)
    grid = pdq_grid(luma)
    if not full_range:
        grid = grid * np.float32(_TV_RANGE)
    return pdq_from_grid(grid)


def _luma(frame: Any) -> tuple[np.ndarray, bool]:
    """The frame's luma without a conversion where possible: a view of its Y plane."""
    fmt = frame.format.name
    if fmt in _Y_PLANE_FORMATS:
        plane = frame.planes[0]
        rows = np.frombuffer(plane, dtype=np.uint8).reshape(-1, plane.line_size)
        full = fmt in _FULL_RANGE_FORMATS or _is_full_range(frame)
        return rows[: frame.height, : frame.width], full
    gray = frame.reformat(format="gray")
    return gray.to_ndarray(), True


def _is_full_range(frame: Any) -> bool:
    value = getattr(frame, "color_range", None)
    return bool(value == 2)  # AVCOL_RANGE_JPEG


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
