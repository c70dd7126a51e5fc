"""Synthetic media: deterministic pictures, their re-upload variants, and archives of them.

Safety rule: every picture here is abstract (gradients, shapes, noise, a text caption). "Known" or
"actionable" are labels the world attaches elsewhere; nothing in this module knows about labels.

Bytes are a pure function of (image seed, variant), so the world never has to store them: it renders
on demand and keeps a bounded cache. Re-upload variants (re-encoded, resized, mirrored) change the
bytes and hence sha256, but keep the picture, so only a perceptual hash (PDQ) links them.
"""

from __future__ import annotations

import hashlib
import io
import random
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

FORMATS = ("jpeg", "png", "webp", "gif")
VIDEO_FORMATS = ("mp4", "webm")
"""A `Picture` in one of these is a short synthetic video (videos.py renders it, issue 16)."""
EXTENSIONS = {
    "jpeg": "jpg",
    "png": "png",
    "webp": "webp",
    "gif": "gif",
    "mp4": "mp4",
    "webm": "webm",
}
CONTENT_TYPES = {
    "mp4": "video/mp4",
    "webm": "video/webm",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "gif": "image/gif",
    "zip": "application/zip",
    "7z": "application/x-7z-compressed",
}
VARIANT_KINDS = ("orig", "same", "reencode", "resize", "mirror")
# Bumped whenever `render_pixels` paints differently (3: videos, issue 16): cached fingerprints
# carry it in their key.
RENDER_VERSION = 3


@dataclass(frozen=True)
class Picture:
    """The identity of one synthetic picture: what it looks like, before any encoding."""

    seed: int
    width: int
    height: int
    fmt: str

    @property
    def is_video(self) -> bool:
        return self.fmt in VIDEO_FORMATS


@dataclass(frozen=True)
class Variant:
    """How one copy of a picture was encoded: the original, or a re-upload transformation.

    `same` is a byte-identical re-upload; the others change bytes but not the picture.
    """

    kind: str = "orig"
    fmt: str | None = None  # re-encoded format; None keeps the picture's own format
    scale: float = 1.0
    quality: int = 88
    trim_s: float = 0.0  # videos: seconds cut from the start
    crop: float = 0.0  # videos: share of each side cut away


ORIGINAL = Variant()


@dataclass(frozen=True)
class VideoHooks:
    """How a video `Picture` is rendered and hashed: videos.py registers them when imported
    (it builds on this module's pictures, so this module cannot import it)."""

    render: Callable[[Picture, Variant], bytes]
    vpdq: Callable[[bytes], str]


_video_hooks: list[VideoHooks] = []


def register_video_hooks(hooks: VideoHooks) -> None:
    _video_hooks[:] = [hooks]


def video_hooks() -> VideoHooks:
    if not _video_hooks:
        raise RuntimeError("video pictures need orbweaver.sim.videos imported (the world does)")
    return _video_hooks[0]


def draw_variant(rng: random.Random, kind: str, picture: Picture) -> Variant:
    """A concrete variant of the given kind, with its parameters drawn from `rng`. A video
    is never mirrored (vPDQ, like the reference, does not look for mirrored frames): its
    third kind of copy is trimmed or cropped instead."""
    if picture.is_video:
        if kind == "reencode":
            return Variant("reencode", fmt="webm" if picture.fmt == "mp4" else "mp4", quality=35)
        if kind == "resize":
            return Variant("resize", scale=round(rng.uniform(0.55, 0.85), 2))
        if kind == "mirror":
            return Variant("trim", trim_s=1.0) if rng.random() < 0.5 else Variant("crop", crop=0.01)
        return Variant(kind)
    if kind == "reencode":
        fmt = rng.choice([f for f in ("jpeg", "webp", "png") if f != picture.fmt] or ["jpeg"])
        return Variant("reencode", fmt=fmt, quality=rng.randint(60, 80))
    if kind == "resize":
        return Variant("resize", scale=round(rng.uniform(0.55, 0.85), 2))
    if kind == "mirror":
        return Variant("mirror")
    return Variant(kind)


def render_pixels(picture: Picture) -> Image.Image:
    """Paint the picture: a noisy two-colour gradient, some shapes and a caption."""
    rng = np.random.default_rng(picture.seed)
    w, h = picture.width, picture.height
    # Opposite ends of the colour cube and a dozen shapes or more: texture at PDQ's 64x64 scale,
    # so every picture has a PDQ quality a hotline would keep (>= 50), as real photos do.
    c0 = rng.integers(0, 256, 3)
    c1 = 255 - c0
    angle = rng.uniform(0, np.pi)
    cx, cy = np.cos(angle), np.sin(angle)
    span = abs(w * cx) + abs(h * cy)
    t = np.arange(w, dtype=np.float32)[None, :] * cx + np.arange(h, dtype=np.float32)[:, None] * cy
    level = t * (255.0 / span) + rng.integers(-4, 5, (h, w), dtype=np.int8)
    ramp = np.linspace(0.0, 1.0, 256, dtype=np.float32)[:, None]
    lut = (c0 * (1 - ramp) + c1 * ramp).astype(np.uint8)  # 256 colours along the gradient
    arr = lut[np.clip(level, 0, 255).astype(np.uint8)]
    img = Image.fromarray(arr, "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(16, 28))):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1 = x0 + int(rng.integers(w // 10, w // 2))
        y1 = y0 + int(rng.integers(h // 10, h // 2))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        shape = int(rng.integers(0, 3))
        if shape == 0:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        elif shape == 1:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        else:
            draw.polygon([(x0, y0), (x1, y0 + (y1 - y0) // 3), ((x0 + x1) // 2, y1)], fill=colour)
    draw.text((8, 8), f"sim #{picture.seed % 100000:05d}", fill=(255, 255, 255))
    return img


def encode(img: Image.Image, fmt: str, quality: int = 88) -> bytes:
    """Encode deterministically (no timestamps or random metadata in any of these formats)."""
    out = io.BytesIO()
    if fmt == "jpeg":
        img.save(out, "JPEG", quality=quality)
    elif fmt == "png":
        img.save(out, "PNG", compress_level=1)
    elif fmt == "webp":
        img.save(out, "WEBP", quality=quality, method=0)
    elif fmt == "gif":
        img.quantize(colors=128, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(
            out, "GIF"
        )
    else:
        raise ValueError(f"unknown image format {fmt!r}")
    return out.getvalue()


def apply_variant(img: Image.Image, variant: Variant) -> Image.Image:
    """The pixels of a variant: resized or mirrored copies of the original pixels."""
    if variant.kind == "resize":
        size = (max(16, int(img.width * variant.scale)), max(16, int(img.height * variant.scale)))
        return img.resize(size, Image.Resampling.BILINEAR)
    if variant.kind == "mirror":
        return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return img


def variant_format(picture: Picture, variant: Variant) -> str:
    return variant.fmt or picture.fmt


def render(picture: Picture, variant: Variant = ORIGINAL) -> bytes:
    """The bytes of one copy; `same` and `orig` are byte-identical by definition."""
    if picture.is_video:
        return video_hooks().render(picture, variant)
    img = apply_variant(render_pixels(picture), variant)
    return encode(img, variant_format(picture, variant), variant.quality)


def pdq_hex(picture: Picture) -> str:
    """PDQ of the original picture as 64 hex digits, computed with `pdqhash` on decoded pixels."""
    return fingerprints(picture)[2]


def fingerprints(picture: Picture) -> tuple[str, str, str]:
    """(sha256, md5, pdq) of the original file: what a hotline's list would hold for it; for a
    video the third is its vPDQ in python-threatexchange's text form."""
    import pdqhash

    data = render(picture)
    if picture.is_video:
        vpdq = video_hooks().vpdq(data)
        return hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest(), vpdq
    decoded = Image.open(io.BytesIO(data)).convert("RGB")
    bits, _quality = pdqhash.compute(np.asarray(decoded))
    pdq = np.packbits(bits.astype(np.uint8)).tobytes().hex()
    return hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest(), pdq


class ByteCache:
    """A bounded LRU of rendered bytes, keyed by anything hashable; thread-safe.

    Rendering is deterministic, so eviction only costs CPU, never correctness.
    """

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[object, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: object) -> bytes | None:
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
            return data

    def put(self, key: object, data: bytes) -> None:
        with self._lock:
            if key in self._items:
                return
            self._items[key] = data
            self._size += len(data)
            while self._size > self.max_bytes and len(self._items) > 1:
                _, old = self._items.popitem(last=False)
                self._size -= len(old)


@dataclass(frozen=True)
class Member:
    """One picture inside an archive, under its path in the archive."""

    name: str
    picture: Picture
    variant: Variant = ORIGINAL


def build_archive(fmt: str, members: list[Member], password: str | None, cache: ByteCache) -> bytes:
    """A zip (plain or AES-encrypted with pyzipper) or a 7z (optionally encrypted) of pictures."""
    files = [(m.name, cached_render(m.picture, m.variant, cache)) for m in members]
    out = io.BytesIO()
    if fmt == "zip" and password is None:
        import zipfile

        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
            for name, data in files:
                zf.writestr(zipfile.ZipInfo(name, date_time=(2018, 1, 1, 0, 0, 0)), data)
    elif fmt == "zip":
        import pyzipper

        with pyzipper.AESZipFile(
            out, "w", compression=pyzipper.ZIP_STORED, encryption=pyzipper.WZ_AES
        ) as azf:
            azf.setpassword(password.encode() if password else b"")
            for name, data in files:
                info = pyzipper.zipfile_aes.AESZipInfo(name, date_time=(2018, 1, 1, 0, 0, 0))
                azf.writestr(info, data)
    elif fmt == "7z":
        import py7zr

        with py7zr.SevenZipFile(out, "w", password=password) as sz:
            for name, data in files:
                sz.writestr(data, name)
    else:
        raise ValueError(f"unknown archive format {fmt!r}")
    return out.getvalue()


def cached_render(picture: Picture, variant: Variant, cache: ByteCache) -> bytes:
    key = ("img", picture, variant if variant.kind != "same" else ORIGINAL)
    data = cache.get(key)
    if data is None:
        data = render(picture, variant)
        cache.put(key, data)
    return data


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
