"""What the browser receives of a suspect image: blurred and greyscale unless revealed.

The softening happens here, server-side, so the clear picture never reaches the analyst's
screen (or cache) before they choose to see it. Both variants are re-encoded, which also strips
metadata the file may carry.

Suspect bytes are hostile until proven otherwise (issue 14). The console decodes only what the
crawler's decoder would (`orbweaver.signals.ALLOWED_FORMATS`, under its pixel limit): the header
is read first through those plug-ins alone, so an EPS file never reaches Pillow's EPS plug-in
(and Ghostscript) and a 13000×13000 PNG is refused before a pixel is decoded. What passes is
decoded in a child process (`render_worker`) with its memory, CPU time, files and network
taken away, under a wall-clock timeout, a few at a time. Anything refused or failed gets a
placeholder picture, and the reason goes to the log.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import subprocess
import sys
import threading
from dataclasses import dataclass

from PIL import Image, ImageDraw

from orbweaver.signals import ALLOWED_FORMATS, DEFAULT_MAX_PIXELS, SignalError, probe_image

logger = logging.getLogger(__name__)

MAX_SIDE = 1024


@dataclass(frozen=True)
class RenderLimits:
    """What one render may cost. 768 MiB holds a picture at the crawler's 64-megapixel limit
    (RGBA) while it is scaled down; CPU and wall time bound a decoder made to spin."""

    max_pixels: int = DEFAULT_MAX_PIXELS
    max_bytes: int = 64 * 1024 * 1024
    memory_bytes: int = 768 * 1024 * 1024
    cpu_seconds: int = 10
    timeout_seconds: float = 20.0
    concurrent: int = 4


DEFAULT_LIMITS = RenderLimits()


class NotAnImage(ValueError):
    """The bytes are not a still image Pillow can decode (e.g. a video)."""


class RenderRefused(NotAnImage):
    """The picture is not rendered: format outside the allow-list, too many pixels, broken, or
    its decoder ran out of memory or time."""


def render(
    data: bytes, *, blur: bool, greyscale: bool, limits: RenderLimits = DEFAULT_LIMITS
) -> bytes:
    """PNG of the image scaled to at most MAX_SIDE, optionally blurred and greyscale; the
    placeholder (see `placeholder`) when it may not or cannot be rendered."""
    try:
        return render_or_refuse(data, blur=blur, greyscale=greyscale, limits=limits)
    except RenderRefused as exc:
        logger.warning("suspect image not rendered: %s", exc)
        return placeholder()


def render_or_refuse(
    data: bytes, *, blur: bool, greyscale: bool, limits: RenderLimits = DEFAULT_LIMITS
) -> bytes:
    """As `render`, raising RenderRefused (with its reason) instead of answering the placeholder."""
    if len(data) > limits.max_bytes:
        raise RenderRefused(f"{len(data):,} bytes, over {limits.max_bytes:,}")
    try:
        header = probe_image(data, max_pixels=limits.max_pixels)
    except SignalError as exc:
        raise RenderRefused(str(exc)) from exc
    if header is None:
        raise RenderRefused("not a picture in an allowed format")
    with _slots(limits.concurrent):
        return _in_child(data, blur=blur, greyscale=greyscale, limits=limits)


@functools.lru_cache(maxsize=8)
def _semaphore(size: int) -> threading.BoundedSemaphore:
    return threading.BoundedSemaphore(size)


def _slots(size: int) -> threading.BoundedSemaphore:
    """At most `size` decoding children at once, per process."""
    return _semaphore(max(1, size))


SHEET_FRAMES = 12
"""Frames on a video's contact sheet (evenly spread over its length)."""


def render_video(
    data: bytes,
    *,
    blur: bool,
    greyscale: bool,
    frame: int | None = None,
    limits: RenderLimits = DEFAULT_LIMITS,
) -> bytes:
    """PNG contact sheet of a video's sampled frames (never the video itself: the console does
    not play suspects), softened per the flags; with `frame`, that one frame of the sheet. The
    placeholder when it cannot be decoded within the limits."""
    from orbweaver.signals import ALLOWED_CONTAINERS

    extra = {
        "video": True,
        "video_formats": sorted(ALLOWED_CONTAINERS),
        "sheet_frames": SHEET_FRAMES,
        "frame": frame,
    }
    if len(data) > limits.max_bytes:
        logger.warning("suspect video not rendered: %s bytes", f"{len(data):,}")
        return placeholder()
    try:
        with _slots(limits.concurrent):
            return _in_child(data, blur=blur, greyscale=greyscale, limits=limits, extra=extra)
    except RenderRefused as exc:
        logger.warning("suspect video not rendered: %s", exc)
        return placeholder()


def _in_child(
    data: bytes,
    *,
    blur: bool,
    greyscale: bool,
    limits: RenderLimits,
    extra: dict[str, object] | None = None,
) -> bytes:
    spec = {
        **(extra or {}),
        "formats": list(ALLOWED_FORMATS),
        "max_pixels": limits.max_pixels,
        "max_bytes": limits.max_bytes,
        "max_side": MAX_SIDE,
        "blur": blur,
        "greyscale": greyscale,
        "memory_bytes": limits.memory_bytes,
        "cpu_seconds": limits.cpu_seconds,
    }
    args = [sys.executable, "-I", "-m", "orbweaver.review.render_worker", json.dumps(spec)]
    try:
        done = subprocess.run(
            args,
            input=data,
            capture_output=True,
            timeout=limits.timeout_seconds,
            check=False,
            env={"LC_ALL": "C"},
        )
    except subprocess.TimeoutExpired as exc:  # run() has killed and reaped the child
        raise RenderRefused(f"decoding took over {limits.timeout_seconds:g} s") from exc
    if done.returncode != 0 or not done.stdout.startswith(b"\x89PNG"):
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
        why = reason[-1] if reason else f"decoder ended with status {done.returncode}"
        raise RenderRefused(why[:200])
    return done.stdout


@functools.lru_cache(maxsize=1)
def placeholder() -> bytes:
    """A grey square saying the picture cannot be shown (drawn here, from nothing untrusted)."""
    image = Image.new("RGB", (320, 240), (96, 96, 96))
    draw = ImageDraw.Draw(image)
    draw.rectangle((8, 8, 311, 231), outline=(200, 200, 200), width=2)
    draw.text((24, 104), "This file cannot be shown here.", fill=(235, 235, 235))
    draw.text((24, 124), "Its format or size is not allowed.", fill=(235, 235, 235))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def is_video(mime_type: str | None) -> bool:
    return bool(mime_type and mime_type.startswith("video/"))
